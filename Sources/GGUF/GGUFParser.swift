// GGUFParser: validates and indexes a GGUF v2/v3 little-endian file held in a GGUFStorage.
//
// Layout (all little-endian):
//   header      magic "GGUF" u32 | version u32 | tensor_count u64 | kv_count u64
//   metadata    kv_count × (key: string, type: u32, value)     string = u64 length + UTF-8 bytes
//               array value = elem_type u32 | count u64 | count × value (nested arrays allowed)
//   tensors     tensor_count × (name: string, n_dims u32, ne[n_dims] i64, type u32, offset u64)
//   padding     to general.alignment (default 32)
//   data        tensor bytes at data_offset + offset, each offset a multiple of the alignment
//
// Claimed counts and lengths are checked against the remaining bytes before anything is reserved, so a
// corrupted file costs at most O(file size) memory and never traps.

enum GGUFParser {
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian
    static let defaultAlignment = 32
    static let maxDimensions = 4
    static let maxArrayNesting = 16
    /// Longest metadata key (GGUF spec: at most 2^16 − 1 bytes).
    static let maxKeyLength = 65_535
    /// Longest tensor name (GGUF spec: at most 64 bytes; ggml's GGML_MAX_NAME).
    static let maxTensorNameLength = 64
    /// Smallest possible encoded key/value: key length (8) + type (4) + a 1-byte value.
    static let minimumKVBytes = 13
    /// Smallest possible tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
    static let minimumTensorInfoBytes = 24

    struct Result {
        var version: UInt32
        var metadata: GGUFMetadata
        var alignment: Int
        var dataOffset: Int
        var tensors: [GGUFTensor]
    }

    /// Reads one value of `type`; arrays are validated element by element and kept as byte ranges.
    static func readValue(
        _ type: GGUFValueType, _ r: inout ByteReader, storage: GGUFStorage, key: String, depth: Int
    ) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self))
        case .int8: return .int8(try r.read(Int8.self))
        case .uint16: return .uint16(try r.read(UInt16.self))
        case .int16: return .int16(try r.read(Int16.self))
        case .uint32: return .uint32(try r.read(UInt32.self))
        case .int32: return .int32(try r.read(Int32.self))
        case .uint64: return .uint64(try r.read(UInt64.self))
        case .int64: return .int64(try r.read(Int64.self))
        case .float32: return .float32(try r.readFloat())
        case .float64: return .float64(try r.readDouble())
        case .bool:
            let at = r.position
            let b = try r.read(UInt8.self)
            guard b <= 1 else { throw GGUFError.invalidBool(raw: b, key: key, offset: at) }
            return .bool(b == 1)
        case .string:
            return .string(try r.readString("string value of '\(SafeText.quote(key))'"))
        case .array:
            guard depth < maxArrayNesting else {
                throw GGUFError.nestingTooDeep(key: key, offset: r.position, limit: maxArrayNesting)
            }
            let typeAt = r.position
            let rawType = try r.read(UInt32.self)
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.invalidValueType(raw: rawType, key: key, offset: typeAt)
            }
            let count = try r.readLength("array '\(SafeText.quote(key))' element", stride: elementType.minimumSize)
            let start = r.position
            switch elementType {
            case .string:
                for _ in 0..<count { _ = try r.skipString("string in array '\(SafeText.quote(key))'") }
            case .array:
                for _ in 0..<count { _ = try readValue(.array, &r, storage: storage, key: key, depth: depth + 1) }
            case .bool:
                for i in 0..<count {
                    let b = r.base.load(fromByteOffset: start + i, as: UInt8.self)
                    guard b <= 1 else { throw GGUFError.invalidBool(raw: b, key: key, offset: start + i) }
                }
                r.position += count
            default:
                r.position += count * elementType.minimumSize  // fits: checked by readLength
            }
            return .array(GGUFArray(elementType: elementType, count: count, storage: storage, range: start..<r.position))
        }
    }

    static func parse(_ storage: GGUFStorage) throws -> Result {
        var r = ByteReader(storage, section: "header")
        let magic = try r.read(UInt32.self)
        guard magic == Self.magic else { throw GGUFError.badMagic(found: magic) }
        let version = try r.read(UInt32.self)
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCountAt = r.position
        let rawTensorCount = try r.read(UInt64.self)
        let kvCountAt = r.position
        let rawKVCount = try r.read(UInt64.self)
        // Cheap plausibility checks before reserving anything proportional to the counts.
        guard rawKVCount <= UInt64(r.remaining / minimumKVBytes) else {
            throw GGUFError.countTooLarge(what: "metadata key/value", offset: kvCountAt, count: rawKVCount,
                                          remaining: r.remaining)
        }
        let kvCount = Int(rawKVCount)
        guard rawTensorCount <= UInt64(r.remaining / minimumTensorInfoBytes) else {
            throw GGUFError.countTooLarge(what: "tensor", offset: tensorCountAt, count: rawTensorCount,
                                          remaining: r.remaining)
        }
        let tensorCount = Int(rawTensorCount)

        // Metadata
        r.section = "metadata"
        var metadata = try GGUFMetadata()
        var alignment = defaultAlignment
        for _ in 0..<kvCount {
            let keyAt = r.position
            let key = try r.readString("metadata key", maxLength: maxKeyLength)
            let typeAt = r.position
            let rawType = try r.read(UInt32.self)
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.invalidValueType(raw: rawType, key: key, offset: typeAt)
            }
            let valueAt = r.position
            let value = try readValue(type, &r, storage: storage, key: key, depth: 0)
            if metadata.contains(key) { throw GGUFError.duplicateKey(key: key, offset: keyAt) }
            if key == GGUFKey.alignment {
                guard let a = value.intValue, a > 0, a & (a - 1) == 0 else {
                    throw GGUFError.invalidAlignment(value: value.description, offset: valueAt)
                }
                alignment = a
            }
            try metadata.append(key, value, offset: keyAt)
        }

        // Tensor infos
        r.section = "tensor table"
        struct Info {
            var name: String
            var type: GGMLType
            var shape: [Int]
            var elements: Int
            var bytes: Int?  // nil: type without a layout
            var relativeOffset: UInt64
            var infoAt: Int
        }
        var infos: [Info] = []
        infos.reserveCapacity(tensorCount)
        var names: Set<String> = []
        names.reserveCapacity(tensorCount)
        for _ in 0..<tensorCount {
            let infoAt = r.position
            let name = try r.readString("tensor name", maxLength: maxTensorNameLength)
            guard names.insert(name).inserted else { throw GGUFError.duplicateTensor(name: name, offset: infoAt) }
            let dimsAt = r.position
            let nDims = try r.read(UInt32.self)
            guard nDims <= UInt32(maxDimensions) else {
                throw GGUFError.tooManyDimensions(count: nDims, tensor: name, offset: dimsAt)
            }
            var raw: [Int64] = []
            var shape: [Int] = []
            var elements = 1
            var overflow = false
            for i in 0..<Int(nDims) {
                let dimAt = r.position
                let d = try r.read(Int64.self)
                guard d > 0 else { throw GGUFError.invalidDimension(value: d, index: i, tensor: name, offset: dimAt) }
                raw.append(d)
                shape.append(Int(d))
                let (m, o) = elements.multipliedReportingOverflow(by: Int(d))
                elements = m
                overflow = overflow || o
            }
            guard !overflow else { throw GGUFError.shapeOverflow(tensor: name, shape: raw, offset: dimsAt) }
            let typeAt = r.position
            let rawType = try r.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError.unknownTensorType(raw: rawType, tensor: name, offset: typeAt)
            }
            let offset = try r.read(UInt64.self)
            var bytes: Int? = nil
            if type.hasLayout {
                let ne0 = shape.first ?? 1
                guard ne0 % type.blockSize == 0 else {
                    throw GGUFError.shapeNotBlockAligned(tensor: name, type: type.name, ne0: ne0,
                                                         blockSize: type.blockSize, offset: dimsAt)
                }
                guard let row = type.rowBytes(ne0) else {
                    throw GGUFError.shapeOverflow(tensor: name, shape: raw, offset: dimsAt)
                }
                let (total, o) = row.multipliedReportingOverflow(by: elements / ne0)
                guard !o else { throw GGUFError.shapeOverflow(tensor: name, shape: raw, offset: dimsAt) }
                bytes = total
            }
            infos.append(Info(name: name, type: type, shape: shape, elements: elements, bytes: bytes,
                              relativeOffset: offset, infoAt: infoAt))
        }

        // Data section: starts at the next multiple of the alignment.
        let (padded, o) = r.position.addingReportingOverflow(alignment - 1)
        guard !o else {
            throw GGUFError.invalidAlignment(value: String(alignment), offset: r.position)
        }
        let dataOffset = padded / alignment * alignment
        let fileSize = storage.count

        // Absolute extents, alignment and bounds.
        var starts: [Int] = []
        starts.reserveCapacity(infos.count)
        for info in infos {
            guard info.relativeOffset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: info.name, dataOffset: info.relativeOffset,
                                                 alignment: alignment, offset: info.infoAt)
            }
            let size = info.bytes ?? 0
            let (start, o1) = UInt64(dataOffset).addingReportingOverflow(info.relativeOffset)
            let (end, o2) = start.addingReportingOverflow(UInt64(size))
            guard !o1, !o2, end <= UInt64(fileSize) else {
                throw GGUFError.tensorOutOfBounds(tensor: info.name, start: o1 ? UInt64.max : start,
                                                  byteCount: size, fileSize: fileSize)
            }
            starts.append(Int(start))
        }

        // Overlaps (and the extent of tensors whose type has no layout: up to the next tensor or EOF).
        let order = starts.indices.sorted { starts[$0] < starts[$1] }
        var extents = [Int](repeating: 0, count: infos.count)
        for (k, i) in order.enumerated() {
            let nextStart = k + 1 < order.count ? starts[order[k + 1]] : fileSize
            extents[i] = infos[i].bytes ?? (nextStart - starts[i])
            if k + 1 < order.count, starts[i] + extents[i] > nextStart {
                let j = order[k + 1]
                throw GGUFError.overlappingTensors(first: infos[i].name, second: infos[j].name, offset: infos[j].infoAt)
            }
        }

        var tensors: [GGUFTensor] = []
        tensors.reserveCapacity(infos.count)
        for (i, info) in infos.enumerated() {
            tensors.append(GGUFTensor(name: info.name, type: info.type, shape: info.shape,
                                      elementCount: info.elements, byteCount: extents[i], fileOffset: starts[i],
                                      data: storage.base + starts[i]))
        }
        return Result(version: version, metadata: metadata, alignment: alignment, dataOffset: dataOffset,
                      tensors: tensors)
    }
}
