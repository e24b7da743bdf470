import Testing
@testable import TarArchive
