import Testing
@testable import ImageTransport
