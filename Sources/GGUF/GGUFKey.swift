// GGUFKey: every metadata key string the engine reads, in one place (names follow gguf-py's constants.Keys).

/// GGUF metadata key strings. Architecture-specific keys are functions of the architecture name:
/// `GGUFKey.contextLength("llama") == "llama.context_length"`.
public enum GGUFKey {
    // MARK: general.*
    public static let architecture = "general.architecture"
    public static let quantizationVersion = "general.quantization_version"
    public static let alignment = "general.alignment"
    public static let fileType = "general.file_type"
    public static let type = "general.type"
    public static let name = "general.name"
    public static let author = "general.author"
    public static let version = "general.version"
    public static let organization = "general.organization"
    public static let finetune = "general.finetune"
    public static let basename = "general.basename"
    public static let description = "general.description"
    public static let quantizedBy = "general.quantized_by"
    public static let sizeLabel = "general.size_label"
    public static let license = "general.license"
    public static let licenseName = "general.license.name"
    public static let licenseLink = "general.license.link"
    public static let url = "general.url"
    public static let doi = "general.doi"
    public static let uuid = "general.uuid"
    public static let repoURL = "general.repo_url"
    public static let sourceURL = "general.source.url"
    public static let sourceRepoURL = "general.source.repo_url"
    public static let tags = "general.tags"
    public static let languages = "general.languages"
    public static let datasets = "general.datasets"

    // MARK: {arch}.*

    /// `"{arch}.{suffix}"`, for keys without a dedicated helper.
    public static func arch(_ arch: String, _ suffix: String) -> String { "\(arch).\(suffix)" }

    public static func contextLength(_ arch: String) -> String { "\(arch).context_length" }
    public static func embeddingLength(_ arch: String) -> String { "\(arch).embedding_length" }
    public static func blockCount(_ arch: String) -> String { "\(arch).block_count" }
    public static func feedForwardLength(_ arch: String) -> String { "\(arch).feed_forward_length" }
    public static func vocabSize(_ arch: String) -> String { "\(arch).vocab_size" }
    public static func useParallelResidual(_ arch: String) -> String { "\(arch).use_parallel_residual" }
    public static func expertCount(_ arch: String) -> String { "\(arch).expert_count" }
    public static func expertUsedCount(_ arch: String) -> String { "\(arch).expert_used_count" }
    public static func finalLogitSoftcapping(_ arch: String) -> String { "\(arch).final_logit_softcapping" }
    public static func attnLogitSoftcapping(_ arch: String) -> String { "\(arch).attn_logit_softcapping" }

    public static func headCount(_ arch: String) -> String { "\(arch).attention.head_count" }
    public static func headCountKV(_ arch: String) -> String { "\(arch).attention.head_count_kv" }
    public static func layerNormRMSEpsilon(_ arch: String) -> String { "\(arch).attention.layer_norm_rms_epsilon" }
    public static func layerNormEpsilon(_ arch: String) -> String { "\(arch).attention.layer_norm_epsilon" }
    public static func keyLength(_ arch: String) -> String { "\(arch).attention.key_length" }
    public static func valueLength(_ arch: String) -> String { "\(arch).attention.value_length" }
    public static func slidingWindow(_ arch: String) -> String { "\(arch).attention.sliding_window" }
    public static func slidingWindowPattern(_ arch: String) -> String { "\(arch).attention.sliding_window_pattern" }
    public static func causal(_ arch: String) -> String { "\(arch).attention.causal" }

    public static func ropeFreqBase(_ arch: String) -> String { "\(arch).rope.freq_base" }
    public static func ropeDimensionCount(_ arch: String) -> String { "\(arch).rope.dimension_count" }
    public static func ropeScalingType(_ arch: String) -> String { "\(arch).rope.scaling.type" }
    public static func ropeScalingFactor(_ arch: String) -> String { "\(arch).rope.scaling.factor" }
    public static func ropeScalingAttnFactor(_ arch: String) -> String { "\(arch).rope.scaling.attn_factor" }
    public static func ropeScalingOriginalContextLength(_ arch: String) -> String {
        "\(arch).rope.scaling.original_context_length"
    }
    public static func ropeScalingFinetuned(_ arch: String) -> String { "\(arch).rope.scaling.finetuned" }

    // MARK: tokenizer.*
    public static let tokenizerModel = "tokenizer.ggml.model"
    public static let tokenizerPre = "tokenizer.ggml.pre"
    public static let tokens = "tokenizer.ggml.tokens"
    public static let scores = "tokenizer.ggml.scores"
    public static let tokenType = "tokenizer.ggml.token_type"
    public static let tokenTypeCount = "tokenizer.ggml.token_type_count"
    public static let merges = "tokenizer.ggml.merges"
    public static let bosTokenID = "tokenizer.ggml.bos_token_id"
    public static let eosTokenID = "tokenizer.ggml.eos_token_id"
    public static let eotTokenID = "tokenizer.ggml.eot_token_id"
    public static let eomTokenID = "tokenizer.ggml.eom_token_id"
    public static let unknownTokenID = "tokenizer.ggml.unknown_token_id"
    public static let paddingTokenID = "tokenizer.ggml.padding_token_id"
    public static let sepTokenID = "tokenizer.ggml.seperator_token_id"  // sic: llama.cpp's spelling
    public static let clsTokenID = "tokenizer.ggml.cls_token_id"
    public static let maskTokenID = "tokenizer.ggml.mask_token_id"
    public static let fimPreTokenID = "tokenizer.ggml.fim_pre_token_id"
    public static let fimSufTokenID = "tokenizer.ggml.fim_suf_token_id"
    public static let fimMidTokenID = "tokenizer.ggml.fim_mid_token_id"
    public static let addBOSToken = "tokenizer.ggml.add_bos_token"
    public static let addEOSToken = "tokenizer.ggml.add_eos_token"
    public static let addSEPToken = "tokenizer.ggml.add_sep_token"
    public static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
    public static let removeExtraWhitespaces = "tokenizer.ggml.remove_extra_whitespaces"
    public static let precompiledCharsmap = "tokenizer.ggml.precompiled_charsmap"
    public static let chatTemplate = "tokenizer.chat_template"
}
