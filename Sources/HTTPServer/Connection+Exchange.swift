import SystemIO

extension Connection {
    func startRequest(_ head: RequestHead) {
        loop.assertInLoop()
        let body = RequestBody(connection: self, framing: head.framing)
        let exchange = Exchange(body: body, keepAlive: head.keepAlive,
                                expectContinue: head.expectContinue && head.framing != .none, now: loop.now)
        transition(to: .exchanging(exchange))
        var request = Request(head: head, remoteAddress: peer, startNanos: Clock.monotonicNanos())
        if tls != nil {
            request.isSecure = true
            request.clientCertificateSubject = clientSubject
            request.clientCertificateCommonName = clientCommonName
        }
        interestMayHaveChanged()
        Task(executorPreference: loop) { [self] in
            await serve(request, exchange: exchange)
        }
    }

    /// Answers a request that never reached a handler, then closes: no more input is read from this connection.
    func reject(_ response: Response, log: String) {
        transition(to: .rejecting)
        interestMayHaveChanged()
        loop.server.logger.info("\(peer) \(log)")
        Task(executorPreference: loop) { [self] in
            do {
                try await write(serializeHead(response, method: "GET", versionMinor: 1, close: true,
                                              contentLength: response.body.count) + (bodyBytes(response) ?? []))
                lingeringClose()
            } catch {
                close(reason: "write: \(error)")
            }
        }
    }

    /// The exchange in progress if it is the one of `body`.
    private func exchange(of body: RequestBody) -> Exchange? {
        guard case .exchanging(let exchange) = state, exchange.body === body else { return nil }
        return exchange
    }

    // MARK: - Body flow control (called by RequestBody)

    func bodyWantsData(_ body: RequestBody) {
        loop.assertInLoop()
        guard let exchange = exchange(of: body) else { return }
        if exchange.expectContinuePending {
            exchange.expectContinuePending = false
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            // Tiny and first on an idle send buffer: a short write here is practically impossible, but is not lost.
            Task(executorPreference: loop) { [self] in
                do { try await write(interim) } catch { close(reason: "write: \(error)") }
            }
        }
        exchange.lastBodyProgress = loop.now
        interestMayHaveChanged()
    }

    func bodyDidDrain(_ body: RequestBody) {
        loop.assertInLoop()
        guard exchange(of: body) != nil else { return }
        if body.bufferedBytes < loop.server.configuration.bodyHighWater { interestMayHaveChanged() }
    }

    // MARK: - The exchange

    private func serve(_ request: Request, exchange: Exchange) async {
        let body = exchange.body
        var response: Response
        do {
            response = try await loop.server.responder.respond(to: request, body: body)
        } catch let error as BodyError {
            if case .tooLarge = error {} else { exchange.closeAfterResponse = true }
            response = .text(error.status, error.description)
        } catch let error as HTTPParseError {
            response = .text(error.status, error.description)
        } catch let error as any ResponseConvertibleError {
            response = error.response
        } catch {
            loop.server.logger.error("\(request.method) \(request.head.target): handler failed: \(error)")
            response = .text(.internalServerError, "internal server error")
        }
        guard case .exchanging(let current) = state, current === exchange else {
            reportExchange(request, response, sent: 0, received: body.receivedBytes, note: "connection closed")
            return
        }
        if case .streaming = exchange.input {
            body.discard()
            let limit = loop.server.configuration.drainLimit
            if exchange.expectContinuePending {
                // RFC 9110 §10.1.1: the client was not told to send the body; closing is the only clean end.
                exchange.input = .ended(byPeer: false)
                exchange.closeAfterResponse = true
            } else if body.declaredLength.map({ $0 - body.receivedBytes <= limit }) ?? true {
                // What is left (or a chunked body of unknown length) is read and dropped, up to the drain limit.
                exchange.input = .draining(budget: limit)
            } else {
                // Too much left to drain: read and drop while the response goes out, then close.
                exchange.closeAfterResponse = true
            }
            interestMayHaveChanged()
        }
        let close = exchange.closeAfterResponse || !exchange.keepAlive || shuttingDown
        response = applyRange(response, for: request.head)
        if case .stream = response.body { response = await openStream(response, for: request.head) }
        var sent: Int64 = 0
        do {
            try await send(response, for: request.head, close: close, sent: &sent)
        } catch {
            let note = error is ResponseStreamError ? "\(error)" : "write failed: \(error)"
            reportExchange(request, response, sent: sent, received: body.receivedBytes, note: note)
            self.close(reason: note)
            return
        }
        reportExchange(request, response, sent: sent, received: body.receivedBytes, note: nil)
        exchange.responded = true
        guard case .exchanging = state else { return }
        if close || exchange.closeAfterResponse || shuttingDown {
            lingeringClose()
        } else if case .draining = exchange.input {
            // `endOfBody` finishes the exchange once the rest of the body is dropped.
        } else {
            finishExchange()
        }
    }

    func finishExchange() {
        loop.assertInLoop()
        transition(to: .awaitingHead(headerStart: nil))
        lastActivity = loop.now
        interestMayHaveChanged()
        if shuttingDown && pendingInput.isEmpty {
            close(reason: "shutdown")
            return
        }
        if !pendingInput.isEmpty {
            let input = pendingInput
            pendingInput = []
            input.withUnsafeBytes { process($0) }
        }
    }

    /// Tells every observer (the access log, the request metrics) how the exchange went. The record is built only
    /// when someone listens; each observer merely queues it (see `ExchangeObserver`).
    private func reportExchange(_ request: Request, _ response: Response, sent: Int64, received: Int64, note: String?) {
        let observers = loop.server.configuration.observers
        guard !observers.isEmpty else { return }
        let record = ExchangeRecord(
            method: request.method, target: request.head.target, status: response.status.code,
            bytesReceived: received, bytesSent: sent, durationNanos: Clock.monotonicNanos() &- request.startNanos,
            peer: peerText, isSecure: request.isSecure, context: response.context, note: note)
        for observer in observers { observer.exchangeCompleted(record) }
    }
}
