//! Authenticated handshakes and admission rules (who may connect as a full peer).
//!
//! MiniLedger 0.2's handshake proves nothing: anyone may announce any publicKey. Ours adds a
//! challenge-response in optional fields, so a 0.2 peer still connects (unauthenticated):
//!
//! ```text
//! dialer    → HANDSHAKE       {…, challenge: Cd}
//! responder → HANDSHAKE_ACK   {…, accepted, challenge: Cr, challengeSignature: sign_R(proof(responder, Cd, R, D))}
//! dialer    → HANDSHAKE_PROOF {signature: sign_D(proof(dialer, Cr, D, R))}   (after checking R's signature)
//! responder admits D (PEER_LIST follows) once D's proof verifies
//! ```
//!
//! - `proof(role, challenge, signer, peer)` = `sha256hex(canonical({challenge, peer, purpose:
//!   "miniledger/handshake/v1", role, signer}))` with `signer`/`peer` the two public keys; the
//!   64-character hex text is signed, as every other signature of the protocol. Strict Ed25519.
//! - Why `role`: a responder's signature cannot be replayed as a dialer's proof (otherwise an
//!   attacker dialing A while claiming to be V, with V's challenge, would get from A's answer
//!   the very proof V asks of "A"). Why `peer`: a proof made for one node is worthless to
//!   another. Why the dialer proves second: it checks the responder first, so it never signs
//!   for an impostor.
//! - Answering anyone's challenge signs nothing else: the signed text is the hash of a JSON
//!   object no transaction or block hash is computed from (matching one would take a SHA-256
//!   second preimage). Each answer costs one signature; the per-IP socket limit bounds them.
//! - A dialer that sends no challenge is a 0.2 peer: no challenge fields in the answer, no
//!   proof expected. A responder that answers without `challengeSignature` is one too: the
//!   dialer sends no HANDSHAKE_PROOF (0.2 nodes never see that type).
//! - A peer that offered authentication (sent a challenge) and then fails it is refused.
//!   Not scored: its identity is exactly what it failed to prove, and scoring the nodeId it
//!   claimed would let anyone get an honest node banned.
//! - What it does not do: authenticate each later frame. A man in the middle that relays a
//!   whole handshake between two honest nodes can inject frames afterwards (the wire is plain
//!   text); TLS on the P2P port closes that.

use crate::crypto::{self, Keypair};
use crate::hash::sha256_hex;

/// Which side of the handshake signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dialer,
    Responder,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Dialer => "dialer",
            Role::Responder => "responder",
        }
    }
}

pub const PURPOSE: &str = "miniledger/handshake/v1";

/// The hex hash a handshake signature covers.
pub fn proof_hash(role: Role, challenge: &str, signer: &str, peer: &str) -> String {
    use crate::canonical::write_string;
    // Canonical JSON: keys in sorted order, strings escaped as JSON.stringify does.
    let mut text = String::with_capacity(320);
    for (i, (key, value)) in [
        ("challenge", challenge),
        ("peer", peer),
        ("purpose", PURPOSE),
        ("role", role.name()),
        ("signer", signer),
    ]
    .into_iter()
    .enumerate()
    {
        text.push(if i == 0 { '{' } else { ',' });
        write_string(&mut text, key);
        text.push(':');
        write_string(&mut text, value);
    }
    text.push('}');
    sha256_hex(text)
}

/// `key`'s signature answering `challenge` from `peer` (its public key).
pub fn sign(key: &Keypair, role: Role, challenge: &str, peer: &str) -> String {
    key.sign(&proof_hash(role, challenge, key.public_hex(), peer))
}

/// Checks that `signer` answered `challenge` from `peer` in `role`.
pub fn verify(
    role: Role,
    challenge: &str,
    signer: &str,
    peer: &str,
    signature: &str,
) -> Result<(), crypto::SignatureError> {
    crypto::verify(
        signer,
        &proof_hash(role, challenge, signer, peer),
        signature,
    )
}

/// A challenge is 32 bytes as 64 lowercase hex characters.
pub fn is_challenge(s: &str) -> bool {
    crate::hex::is_lower_hex(s, 32)
}

/// Fresh challenges from a 32-byte secret seed the driver draws from its entropy source (core
/// has none): SHA-256(seed ‖ counter), unpredictable to whoever does not know the seed.
#[derive(Clone)]
pub struct Challenges {
    seed: [u8; 32],
    counter: u64,
}

impl Challenges {
    pub fn new(seed: [u8; 32]) -> Self {
        Challenges { seed, counter: 0 }
    }

    pub fn next_challenge(&mut self) -> String {
        self.counter += 1;
        let mut input = [0u8; 40];
        input[..32].copy_from_slice(&self.seed);
        input[32..].copy_from_slice(&self.counter.to_le_bytes());
        sha256_hex(input)
    }
}

/// Who may connect (`network.allowedKeys`, `network.allowedOrgs`, `network.allowLightNodes`).
/// Lists, not sets: they are short, and the browser build is smaller without another map type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// When set, a full peer's publicKey must be listed.
    pub allowed_keys: Option<Vec<String>>,
    /// When set, a full peer's orgId must be listed. orgIds are self-declared: this keeps
    /// honest nodes of other organisations out, not a key holder lying about its org (with
    /// both lists set, both must match).
    pub allowed_orgs: Option<Vec<String>>,
    /// Light nodes (browser tabs) only read and submit signed transactions: admitted whatever
    /// the lists say, unless this is false.
    pub allow_light: bool,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            allowed_keys: None,
            allowed_orgs: None,
            allow_light: true,
        }
    }
}

impl Admission {
    /// Whether full peers must be listed, and so authenticated.
    pub fn restricted(&self) -> bool {
        self.allowed_keys.is_some() || self.allowed_orgs.is_some()
    }

    /// Why a peer announcing `public_key`/`org_id` may not connect, if it may not (before
    /// any authentication: whether it is required is the caller's business).
    pub fn refusal(&self, public_key: &str, org_id: &str, light: bool) -> Option<String> {
        if light {
            return (!self.allow_light)
                .then(|| "light nodes are not admitted (network.allowLightNodes)".into());
        }
        let listed = |list: &Option<Vec<String>>, s: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|x| x == s))
        };
        if !listed(&self.allowed_keys, public_key) {
            return Some("publicKey not in network.allowedKeys".into());
        }
        if !listed(&self.allowed_orgs, org_id) {
            return Some(format!("orgId {org_id:?} not in network.allowedOrgs"));
        }
        None
    }

    /// Whether a full peer with this key could be admitted (to skip dialing discovered
    /// addresses that would be refused anyway).
    pub fn may_dial(&self, public_key: &str, org_id: &str) -> bool {
        self.refusal(public_key, org_id, false).is_none()
    }
}

/// The refusal for a full peer that did not authenticate while the lists require it.
pub const UNAUTHENTICATED_REFUSAL: &str =
    "authentication required (network.allowedKeys/allowedOrgs are set) but the peer offered no challenge-response (a MiniLedger 0.2 node?)";
