/// Colours for backends, the same in every chart: a reader who learned
/// "lmdb is blue" in one chart must not have to relearn it in the next, nor
/// in next week's report. The standard comparison's pairs (`--backend all`)
/// have fixed colours; any other series takes the next free colour in series
/// order. Okabe–Ito colours, distinguishable with colour-blindness.
struct BackendPalette {
    static let fixed: [String: String] = [
        "memory/memory": "#999999",
        "flatfile/flatfile": "#E69F00",
        "lmdb/lmdb": "#0072B2",
        "leveldb/leveldb": "#009E73",
        "rocksdb/rocksdb": "#D55E00",
        "sqlite/sqlite": "#CC79A7",
        "wal/lmdb": "#56B4E9",
    ]
    static let spare = ["#000000", "#F0E442", "#882255", "#44AA99", "#AA4499", "#117733", "#332288", "#DDCC77"]

    private var colors: [SeriesKey: String] = [:]

    init(_ keys: some Collection<SeriesKey>) {
        let sorted = Set(keys).sorted()
        // A backend pair keeps its fixed colour only when it is a single
        // series; sync on/off variants of one backend need distinct colours.
        let pairCounts = Dictionary(grouping: sorted, by: \.backend).mapValues(\.count)
        var used = Set<String>()
        var pending: [SeriesKey] = []
        for key in sorted {
            if pairCounts[key.backend] == 1, let color = Self.fixed[key.backend.description], !used.contains(color) {
                colors[key] = color
                used.insert(color)
            } else {
                pending.append(key)
            }
        }
        var free = (Self.spare + Self.fixed.values.sorted()).filter { !used.contains($0) }
        for key in pending {
            if free.isEmpty { free = Self.spare }  // more series than colours: reuse
            colors[key] = free.removeFirst()
        }
    }

    func color(_ key: SeriesKey) -> String { colors[key] ?? "#444444" }
}
