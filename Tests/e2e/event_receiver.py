#!/usr/bin/env python3
"""A webhook receiver for events_e2e.sh: listens on 127.0.0.1:PORT (0: any free port, written to PORT_FILE),
appends each event of every POSTed envelope to EVENTS_FILE as one JSON line (with the request's Content-Type
and Authorization beside it), then answers 200. With CERT and KEY it speaks HTTPS. Only the standard library.

  event_receiver.py PORT PORT_FILE EVENTS_FILE [CERT KEY]"""
import http.server
import json
import os
import ssl
import sys

port, port_file, events_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            events = json.loads(body)["events"]
        except (ValueError, KeyError) as error:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            print("bad envelope: %s" % error, file=sys.stderr)
            return
        with open(events_file, "a") as out:
            for event in events:
                out.write(json.dumps({"contentType": self.headers.get("Content-Type"),
                                      "authorization": self.headers.get("Authorization"),
                                      "event": event}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer.allow_reuse_address = True
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
