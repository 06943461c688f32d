extension ClusterConfig {
    /// The config as a TOML file that `ClusterConfig.parse` reads back into an
    /// equal value: every table and key `parse` knows, defaults included, so
    /// the file says exactly what a node will run with.
    ///
    /// Backend settings are strings in the model; one that reads as a plain
    /// integer or boolean is written bare (`map_size = 1073741824`), which
    /// parses back to the same text. `[bench]` values keep their TOML types.
    public func renderTOML() -> String {
        var out = "# Written by raftlab; `raftlab server --config FILE [--node-id N]` reads it.\n\n"
        out += "cluster_name = \(TOMLText.string(clusterName))\n"
        if let join { out += "join = \(TOMLText.string(join))\n" }
        out += "\n"
        out += "[storage]\n"
        out += "log = \(TOMLText.string(storage.log))\n"
        out += "state = \(TOMLText.string(storage.state))\n"
        out += "sync = \(storage.sync)\n"
        out += "state_sync = \(TOMLText.string(storage.stateSync.rawValue))\n"
        out += "data_dir = \(TOMLText.string(storage.dataDirectory))\n"
        if let encryption = storage.encryption {
            out += "encryption = \(TOMLText.string(encryption.algorithm))\n"
            out += "encryption_key_file = \(TOMLText.string(encryption.keyFile))\n"
        }
        for backend in storage.settings.keys.sorted() {
            let settings = storage.settings[backend] ?? [:]
            out += "\n[storage.\(TOMLText.key(backend))]\n"
            for name in settings.keys.sorted() {
                out += "\(TOMLText.key(name)) = \(TOMLText.setting(settings[name] ?? ""))\n"
            }
        }
        out += "\n[engine]\n"
        out += "tick_ms = \(engine.tickMilliseconds)\n"
        out += "election_ticks = \(engine.electionTicks)\n"
        out += "heartbeat_ticks = \(engine.heartbeatTicks)\n"
        out += "snapshot_entries = \(engine.snapshotEntries)\n"
        out += "snapshot_keep_entries = \(engine.snapshotKeepEntries)\n"
        out += "max_batch = \(engine.maxBatch)\n"
        out += "max_inflight = \(engine.maxInflight)\n"
        out += "\n[limits]\n"
        out += "max_item_bytes = \(limits.maxItemBytes)\n"
        out += "idempotency_window_seconds = \(limits.idempotencyWindowSeconds)\n"
        for node in nodes {
            out += "\n[[nodes]]\n"
            out += "id = \(node.id)\n"
            out += "raft_addr = \(TOMLText.string(node.raftAddress.description))\n"
            out += "http_addr = \(TOMLText.string(node.httpAddress.description))\n"
        }
        if let tls {
            out += "\n[tls]\n"
            out += "ca_file = \(TOMLText.string(tls.caFile))\n"
            out += "cert_file = \(TOMLText.string(tls.certificateFile))\n"
            out += "key_file = \(TOMLText.string(tls.keyFile))\n"
            out += "https = \(tls.https)\n"
        }
        if auth != Auth() {
            out += "\n[auth]\n"
            out += "open_status_and_metrics = \(auth.openStatusAndMetrics)\n"
            for key in auth.accessKeys {
                out += "\n[[auth.access_keys]]\n"
                out += "access_key_id = \(TOMLText.string(key.accessKeyID))\n"
                out += "secret_access_key = \(TOMLText.string(key.secretAccessKey))\n"
            }
            for token in auth.tokens {
                out += "\n[[auth.tokens]]\n"
                out += "token = \(TOMLText.string(token.token))\n"
                out += "role = \(TOMLText.string(token.role.rawValue))\n"
            }
        }
        if !bench.isEmpty {
            out += "\n[bench]\n"
            for key in bench.keys.sorted() {
                out += "\(TOMLText.key(key)) = \(TOMLText.value(bench[key]!))\n"
            }
        }
        return out
    }
}

/// TOML spellings of keys and values.
enum TOMLText {
    /// A bare key when TOML allows one, else a quoted key.
    static func key(_ name: String) -> String {
        let bare = !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", "_", "-": true
            default: false
            }
        }
        return bare ? name : string(name)
    }

    /// A basic string: quotes, backslashes and control characters escaped.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A backend setting: bare when it parses back to the same text, quoted otherwise.
    static func setting(_ text: String) -> String {
        if text == "true" || text == "false" { return text }
        if let number = Int(text), String(number) == text { return text }
        return string(text)
    }

    static func value(_ value: ConfigValue) -> String {
        switch value {
        case .string(let s): string(s)
        case .int(let i): String(i)
        case .bool(let b): String(b)
        case .double(let d):
            if d.isNaN {
                "nan"
            } else if d.isInfinite {
                d < 0 ? "-inf" : "inf"
            } else {
                // Swift prints the shortest text that reads back as the same
                // double; TOML wants a dot or an exponent to see a float.
                d.description.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? d.description : d.description + ".0"
            }
        case .list(let items): "[" + items.map(Self.value).joined(separator: ", ") + "]"
        }
    }
}
