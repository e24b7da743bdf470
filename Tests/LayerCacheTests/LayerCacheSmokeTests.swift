import Testing
@testable import LayerCache
