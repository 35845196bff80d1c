//! The signature equation is cofactored (as the reference's and ZIP-215's), so a signature's
//! validity never depends on the batch it is checked in. Shown with a signature whose `R`
//! carries a torsion component: valid under the cofactored equation, refused by a cofactorless
//! check, and — the point — accepted alone and in every batch alike.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::Scalar;
use miniledger_core::crypto::{self, BatchVerifier, Keypair, SignatureError};
use miniledger_core::hash::sha256_hex;
use miniledger_core::hex;
use sha2::{Digest, Sha512};

/// Signs `message` with `seed`'s key, but with `R = rB + T` for the order-8 point `T`.
fn torsioned_signature(seed: [u8; 32], message: &str) -> String {
    let expanded = Sha512::digest(seed);
    let mut a_bytes: [u8; 32] = expanded[..32].try_into().unwrap();
    a_bytes[0] &= 248;
    a_bytes[31] &= 127;
    a_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a_bytes);
    let public = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
    let r = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(&expanded[32..])
            .chain_update(message)
            .finalize()
            .into(),
    );
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1])
        .compress()
        .to_bytes();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r)
            .chain_update(public)
            .chain_update(message)
            .finalize()
            .into(),
    );
    let s = r + k * a;
    let mut signature = big_r.to_vec();
    signature.extend_from_slice(s.as_bytes());
    hex::encode(&signature)
}

#[test]
fn a_torsioned_r_verifies_alone_and_in_every_batch() {
    let signer = Keypair::from_seed([9; 32]);
    let message = sha256_hex("a transaction");
    let odd = torsioned_signature([9; 32], &message);

    // Cofactored: valid. Cofactorless (ed25519-dalek's verify_strict): refused.
    crypto::verify(signer.public_hex(), &message, &odd).expect("valid under [8]");
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&hex::decode::<32>(signer.public_hex()).unwrap())
            .unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&hex::decode::<64>(&odd).unwrap());
    assert!(key.verify_strict(message.as_bytes(), &sig).is_err());

    // Whatever the company: batches of 1 to 40 honest signatures around it all accept. (A
    // cofactorless batch accepts such a signature for about one coefficient choice in eight.)
    let others: Vec<(Keypair, String)> = (0..40u8)
        .map(|i| {
            (
                Keypair::from_seed([i + 20; 32]),
                sha256_hex(format!("tx {i}")),
            )
        })
        .collect();
    let signatures: Vec<String> = others.iter().map(|(k, m)| k.sign(m)).collect();
    for n in 0..=others.len() {
        let mut batch = BatchVerifier::default();
        for ((k, m), s) in others[..n].iter().zip(&signatures) {
            batch.push(k.public_hex(), m, s).unwrap();
        }
        batch.push(signer.public_hex(), &message, &odd).unwrap();
        assert_eq!(batch.verify(), Ok(()), "batch of {}", n + 1);
    }
}

#[test]
fn a_torsioned_signature_over_another_message_still_fails() {
    let signer = Keypair::from_seed([9; 32]);
    let odd = torsioned_signature([9; 32], &sha256_hex("one"));
    let other = sha256_hex("two");
    assert_eq!(
        crypto::verify(signer.public_hex(), &other, &odd),
        Err(SignatureError::Invalid)
    );
    let mut batch = BatchVerifier::default();
    let honest = Keypair::from_seed([3; 32]);
    batch
        .push(honest.public_hex(), &other, &honest.sign(&other))
        .unwrap();
    batch.push(signer.public_hex(), &other, &odd).unwrap();
    assert_eq!(batch.verify(), Err(vec![1]));
}
