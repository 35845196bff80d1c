//! The rule each tampered variant of block 3 in `chain.json` breaks, one table for every suite
//! that replays them (core's conformance and light-client tests, the browser tests).

use miniledger_core::validation::Rule;

/// What a full node says about a variant: the rule, or `Err(path)` when the block does not even
/// decode (the field it names).
pub fn expected_rule(name: &str) -> Result<Rule, &'static str> {
    Ok(match name {
        "tx_value_tampered_hash_unchanged" => Rule::TxHash,
        "tx_value_tampered_tx_rehashed"
        | "merkle_root_tampered"
        | "merkle_root_tampered_rehashed_resigned"
        | "transaction_removed"
        | "transactions_reordered" => Rule::BlockMerkleRoot,
        "tx_value_tampered_everything_rehashed" => Rule::BlockSignature,
        "previous_hash_wrong" => Rule::BlockPreviousHash,
        "height_wrong" => Rule::BlockHeight,
        "height_fractional" => return Err("height"),
        "timestamp_backwards" | "timestamp_equal_previous" => Rule::BlockTimestamp,
        "timestamp_far_future" => Rule::BlockFutureTimestamp,
        "block_hash_field_tampered" => Rule::BlockHash,
        "block_signature_bitflip" | "block_signed_by_other_key" => Rule::BlockSignature,
        "block_signature_empty" => Rule::BlockEncoding,
        "proposer_replaced_and_signed" | "proposer_zero_key_forged_signature" => {
            Rule::BlockProposer
        }
        "state_root_wrong" => Rule::BlockStateRoot,
        "tx_signature_bitflip" | "tx_signature_by_other_key" | "tx_forged_zero_sender" => {
            Rule::TxSignature
        }
        "tx_signature_empty" => Rule::TxEncoding,
        "tx_replayed_from_block_1" => Rule::TxReplay,
        "tx_nonce_gap" => Rule::TxNonceGap,
        "tx_type_kind_mismatch" => Rule::TxTypeKind,
        other => panic!("no expectation for variant {other}"),
    })
}

/// What a light client says: the same, except `None` for the state root, which needs the
/// world state a light client does not hold (it accepts that variant).
#[allow(dead_code)]
pub fn light_rule(name: &str) -> Result<Option<Rule>, &'static str> {
    expected_rule(name).map(|rule| (rule != Rule::BlockStateRoot).then_some(rule))
}
