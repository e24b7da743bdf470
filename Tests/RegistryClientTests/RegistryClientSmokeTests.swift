import Testing
@testable import RegistryClient
