import BlobStore

/// Implemented in `BlobStore/Composed/ComposedStorage+Collection.swift`.
extension ComposedStorage: CollectableStore {}
