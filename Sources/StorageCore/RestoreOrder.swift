/// A restore source must be in strictly ascending key order (the contract of
/// `restore`); a source that is not is a broken snapshot, so it is refused
/// and the old state kept rather than loaded in some other order.
public enum RestoreOrder {
    public static func check(_ key: Bytes, after previous: Bytes?) throws {
        guard let previous, !previous.sortsBefore(key) else { return }
        throw StorageError.invalidArgument("snapshot keys are not in ascending order")
    }
}
