#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| miniledger_fuzz::tx_validate(data));
