//! Grants end to end with real Umbral keys: the owner wraps a file key, grants a validator
//! m-of-n, proxies re-encrypt, the validator opens; and every way it must fail.
#![expect(clippy::unwrap_used, reason = "tests")]

use poex_grant::{
    self as grant, Capsule, CapsuleFragment, GrantError, Identity, KeyFragment, Public,
    VerifiedCapsuleFragment, WrappedKey,
};
use poex_seal::{FileKey, OpenError, Stanza};

const NOW: &str = "2026-11-21T20:00:00Z";
const FILE_KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

struct World {
    owner: Identity,
    validator: Identity,
    wrapped: WrappedKey,
    kfrags: Vec<KeyFragment>,
}

fn world(threshold: usize, shares: usize) -> World {
    let owner = Identity::generate().unwrap();
    let validator = Identity::generate().unwrap();
    let wrapped = WrappedKey::new(&owner.public(), &FileKey::from_bytes(FILE_KEY)).unwrap();
    let g = grant::grant(&owner, &validator.public(), threshold, shares, NOW).unwrap();
    World {
        owner,
        validator,
        wrapped,
        kfrags: g.kfrags,
    }
}

/// What a proxy does: parse its file, check it against the owner, re-encrypt.
fn proxy(kfrag: &KeyFragment, owner: &Public, wrapped: &WrappedKey) -> CapsuleFragment {
    let parsed = KeyFragment::parse(&kfrag.to_text()).unwrap();
    let cfrag = parsed
        .verify(Some(owner))
        .unwrap()
        .reencrypt(wrapped.capsule());
    // What travels to the validator is the file's text.
    CapsuleFragment::parse(&cfrag.to_text()).unwrap()
}

fn verify_all(
    w: &World,
    cfrags: impl IntoIterator<Item = CapsuleFragment>,
) -> Vec<VerifiedCapsuleFragment> {
    cfrags
        .into_iter()
        .map(|c| {
            c.verify(&w.wrapped, &w.validator.public(), Some(&w.owner.public()))
                .unwrap()
        })
        .collect()
}

#[test]
fn any_m_of_n_proxies_let_the_validator_open_the_file_key() {
    let w = world(2, 3);
    let owner = w.owner.public();
    let cfrags: Vec<CapsuleFragment> = w
        .kfrags
        .iter()
        .map(|k| proxy(k, &owner, &w.wrapped))
        .collect();
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let chosen = verify_all(&w, pair.map(|i| cfrags[i].clone()));
        let key = w.wrapped.open_reencrypted(&w.validator, chosen).unwrap();
        assert_eq!(key.expose_secret(), &FILE_KEY, "proxies {pair:?}");
    }
    let all = verify_all(&w, cfrags);
    let key = w.wrapped.open_reencrypted(&w.validator, all).unwrap();
    assert_eq!(key.expose_secret(), &FILE_KEY);
}

#[test]
fn the_owner_opens_its_own_capsule_and_no_one_else_does() {
    let w = world(1, 1);
    assert_eq!(w.wrapped.open(&w.owner).unwrap().expose_secret(), &FILE_KEY);
    // The validator's identity is not the owner's: the capsule is not for it.
    assert!(matches!(
        w.wrapped.open(&w.validator),
        Err(GrantError::NotOwner)
    ));
}

#[test]
fn a_never_granted_validator_cannot_read() {
    let w = world(2, 3);
    let mallory = Identity::generate().unwrap();
    let owner = w.owner.public();
    let cfrags: Vec<CapsuleFragment> = w.kfrags[..2]
        .iter()
        .map(|k| proxy(k, &owner, &w.wrapped))
        .collect();

    // The fragments name another validator.
    for c in &cfrags {
        let err = c
            .clone()
            .verify(&w.wrapped, &mallory.public(), Some(&owner))
            .unwrap_err();
        assert!(matches!(err, GrantError::NotGranted { .. }), "{err}");
    }

    // Rewriting the validator in the files breaks the owner's signature on the grant.
    let forged: Vec<CapsuleFragment> = cfrags
        .iter()
        .map(|c| {
            let text = c.to_text().replace(
                &w.validator.public().to_string(),
                &mallory.public().to_string(),
            );
            CapsuleFragment::parse(&text).unwrap()
        })
        .collect();
    for c in forged {
        let err = c.verify(&w.wrapped, &mallory.public(), None).unwrap_err();
        assert!(matches!(err, GrantError::GrantSignature { .. }), "{err}");
    }

    // Nor can she open the capsule as if she were the owner.
    assert!(matches!(
        w.wrapped.open(&mallory),
        Err(GrantError::NotOwner)
    ));
}

#[test]
fn fewer_than_m_fragments_do_not_open() {
    let w = world(3, 5);
    let owner = w.owner.public();
    let two = verify_all(
        &w,
        w.kfrags[..2].iter().map(|k| proxy(k, &owner, &w.wrapped)),
    );
    let err = w.wrapped.open_reencrypted(&w.validator, two).unwrap_err();
    assert!(
        matches!(
            err,
            GrantError::NotEnough {
                have: 2,
                need: 3,
                ..
            }
        ),
        "{err}"
    );
    // Lying about the threshold in the file breaks the grant's signature.
    let c = proxy(&w.kfrags[0], &owner, &w.wrapped);
    let lowered =
        CapsuleFragment::parse(&c.to_text().replace("threshold 3", "threshold 1")).unwrap();
    let err = lowered
        .verify(&w.wrapped, &w.validator.public(), None)
        .unwrap_err();
    assert!(matches!(err, GrantError::GrantSignature { .. }), "{err}");
    // None at all.
    let err = w
        .wrapped
        .open_reencrypted(&w.validator, vec![])
        .unwrap_err();
    assert!(
        matches!(err, GrantError::NotEnough { have: 0, .. }),
        "{err}"
    );
}

#[test]
fn the_same_fragment_twice_counts_once() {
    let w = world(2, 3);
    let c = proxy(&w.kfrags[0], &w.owner.public(), &w.wrapped);
    let twice = verify_all(&w, [c.clone(), c]);
    let err = w.wrapped.open_reencrypted(&w.validator, twice).unwrap_err();
    assert!(
        matches!(err, GrantError::Repeated { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn a_fragment_for_another_validator_fails() {
    let w = world(2, 3);
    let owner = w.owner.public();
    let other = Identity::generate().unwrap();
    let other_grant = grant::grant(&w.owner, &other.public(), 2, 3, NOW).unwrap();
    let theirs = proxy(&other_grant.kfrags[0], &owner, &w.wrapped);
    let err = theirs
        .clone()
        .verify(&w.wrapped, &w.validator.public(), Some(&owner))
        .unwrap_err();
    assert!(matches!(err, GrantError::NotGranted { .. }), "{err}");

    // The same fragment, verified for the one it was made for, cannot be mixed with ours.
    let mine = proxy(&w.kfrags[0], &owner, &w.wrapped);
    let mixed = vec![
        mine.verify(&w.wrapped, &w.validator.public(), Some(&owner))
            .unwrap(),
        theirs
            .verify(&w.wrapped, &other.public(), Some(&owner))
            .unwrap(),
    ];
    let err = w.wrapped.open_reencrypted(&w.validator, mixed).unwrap_err();
    assert!(matches!(err, GrantError::MixedGrants { .. }), "{err}");
}

#[test]
fn a_fragment_of_another_log_fails() {
    let w = world(2, 3);
    let owner = w.owner.public();
    let other_log = WrappedKey::new(&owner, &FileKey::from_bytes([9; 32])).unwrap();
    let c = proxy(&w.kfrags[0], &owner, &other_log);
    let err = c
        .clone()
        .verify(&w.wrapped, &w.validator.public(), Some(&owner))
        .unwrap_err();
    assert!(matches!(err, GrantError::WrongCapsule { .. }), "{err}");
    // Relabelled to this log's capsule, Umbral's proof of re-encryption fails.
    let relabelled =
        CapsuleFragment::parse(&c.to_text().replace(&c.capsule, &w.wrapped.capsule().id()))
            .unwrap();
    let err = relabelled
        .verify(&w.wrapped, &w.validator.public(), Some(&owner))
        .unwrap_err();
    assert!(matches!(err, GrantError::CapsuleFragment { .. }), "{err}");
}

#[test]
fn a_grant_by_another_owner_is_refused_when_the_owner_is_pinned() {
    let w = world(1, 2);
    let stranger = Identity::generate().unwrap();
    let err = w.kfrags[0]
        .clone()
        .verify(Some(&stranger.public()))
        .unwrap_err();
    assert!(matches!(err, GrantError::OwnerMismatch { .. }), "{err}");
}

/// Flips one base64 character of the value of `field` in a fragment file.
fn flip(text: &str, field: &str, at: usize) -> String {
    text.lines()
        .map(
            |l| match l.strip_prefix(field).and_then(|v| v.strip_prefix(' ')) {
                Some(v) => {
                    let mut b = v.as_bytes().to_vec();
                    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                    format!("{field} {}\n", String::from_utf8(b).unwrap())
                }
                None => format!("{l}\n"),
            },
        )
        .collect()
}

#[test]
fn tampered_capsules_fragments_and_key_fragments_fail() {
    let w = world(2, 3);
    let owner = w.owner.public();

    // The capsule: a changed character either does not parse (Umbral checks the capsule's
    // own signature) or, if it parses, no longer opens.
    let stanza = w.wrapped.to_stanza();
    let arg = stanza.args[0].clone();
    for at in (0..arg.len()).step_by(7) {
        let mut b = arg.clone().into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        let tampered = Stanza {
            args: vec![String::from_utf8(b).unwrap()],
            ..stanza.clone()
        };
        if let Ok(wk) = WrappedKey::from_stanza(&tampered) {
            assert!(wk.open(&w.owner).is_err(), "capsule character {at}");
        }
    }
    // The wrapped key (the body): authenticated, for the owner and for the validator.
    let mut body = stanza.body.clone();
    body[30] ^= 1;
    let bad_ct = WrappedKey::from_stanza(&Stanza {
        body,
        ..stanza.clone()
    })
    .unwrap();
    assert!(matches!(bad_ct.open(&w.owner), Err(GrantError::NotOwner)));
    let cfrags = verify_all(&w, w.kfrags[..2].iter().map(|k| proxy(k, &owner, &bad_ct)));
    let err = bad_ct.open_reencrypted(&w.validator, cfrags).unwrap_err();
    assert!(matches!(err, GrantError::Reencrypted(_)), "{err}");

    // A capsule fragment: a changed byte does not parse or does not verify.
    let c = proxy(&w.kfrags[0], &owner, &w.wrapped);
    let text = c.to_text();
    let len = text.lines().last().unwrap().len() - "cfrag ".len();
    for at in (0..len).step_by(11) {
        match CapsuleFragment::parse(&flip(&text, "cfrag", at)) {
            Err(GrantError::Malformed { .. }) => {}
            Err(e) => panic!("byte {at}: {e}"),
            Ok(t) => {
                let err = t
                    .verify(&w.wrapped, &w.validator.public(), Some(&owner))
                    .unwrap_err();
                assert!(
                    matches!(err, GrantError::CapsuleFragment { .. }),
                    "{at}: {err}"
                );
            }
        }
    }

    // A key fragment: the proxy refuses it.
    let text = w.kfrags[1].to_text();
    let len = text.lines().last().unwrap().len() - "kfrag ".len();
    for at in (0..len).step_by(13) {
        match KeyFragment::parse(&flip(&text, "kfrag", at)) {
            Err(GrantError::Malformed { .. }) => {}
            Err(e) => panic!("byte {at}: {e}"),
            // Umbral's kfrag carries a second signature meant for the validator, which the
            // proxy cannot check: a change there passes the proxy and fails at the validator.
            Ok(k) => match k.verify(Some(&owner)) {
                Err(GrantError::KeyFragment { .. }) => {}
                Err(e) => panic!("byte {at}: {e}"),
                Ok(v) => {
                    let c = CapsuleFragment::parse(&v.reencrypt(w.wrapped.capsule()).to_text())
                        .unwrap();
                    let err = c
                        .verify(&w.wrapped, &w.validator.public(), Some(&owner))
                        .unwrap_err();
                    assert!(
                        matches!(err, GrantError::CapsuleFragment { .. }),
                        "{at}: {err}"
                    );
                }
            },
        }
    }
}

#[test]
fn impossible_thresholds_are_refused() {
    let owner = Identity::generate().unwrap();
    let v = Identity::generate().unwrap().public();
    for (m, n) in [(0, 3), (4, 3), (1, 0), (1, grant::MAX_SHARES + 1)] {
        assert!(
            matches!(
                grant::grant(&owner, &v, m, n, NOW),
                Err(GrantError::Threshold { .. })
            ),
            "{m} of {n}"
        );
    }
    assert!(grant::grant(&owner, &v, 1, 1, "two words").is_err());
}

#[test]
fn every_format_round_trips() {
    let w = world(2, 3);
    let id_text = w.owner.to_file_text();
    let again = Identity::parse(&id_text).unwrap();
    assert_eq!(again.public(), w.owner.public());
    assert_eq!(*again.to_file_text(), *id_text);
    assert!(id_text.contains(&format!("# public: {}", w.owner.public())));

    let p = w.owner.public().to_string();
    assert!(p.starts_with("umbral:"));
    assert_eq!(p.parse::<Public>().unwrap().to_string(), p);
    assert!("umbral:AAAA".parse::<Public>().is_err());
    assert!(p[7..].parse::<Public>().is_err());

    let stanza = w.wrapped.to_stanza();
    assert_eq!(stanza.tag, "umbral");
    assert_eq!(stanza.body.len(), 24 + 32 + 16);
    assert_eq!(WrappedKey::from_stanza(&stanza).unwrap(), w.wrapped);
    let line = w.wrapped.capsule().to_line();
    assert_eq!(line, format!("-> umbral {}\n", stanza.args[0]));
    let capsule = Capsule::parse_line(&line).unwrap();
    assert_eq!(&capsule, w.wrapped.capsule());
    assert_eq!(capsule.to_line(), line);
    assert!(Capsule::parse_line("-> hpke-x25519 AAAA\n").is_err());
    assert!(
        WrappedKey::from_stanza(&Stanza {
            args: vec![],
            ..stanza.clone()
        })
        .is_err()
    );
    assert!(
        WrappedKey::from_stanza(&Stanza {
            body: vec![0; 3],
            ..stanza.clone()
        })
        .is_err()
    );

    for k in &w.kfrags {
        let text = k.to_text();
        assert_eq!(KeyFragment::parse(&text).unwrap().to_text(), text);
        assert!(KeyFragment::parse(&format!("{text}extra 1\n")).is_err());
        assert!(KeyFragment::parse(&text.replacen("index", "indx", 1)).is_err());
    }
    let c = proxy(&w.kfrags[2], &w.owner.public(), &w.wrapped);
    assert_eq!(c.index, 3);
    let text = c.to_text();
    assert_eq!(CapsuleFragment::parse(&text).unwrap().to_text(), text);
    // A key fragment file is not a capsule fragment file.
    assert!(CapsuleFragment::parse(&w.kfrags[0].to_text()).is_err());
}

#[test]
fn an_identity_never_prints_its_secret() {
    let id = Identity::generate().unwrap();
    let text = id.to_file_text();
    let secret = text
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    let debug = format!("{id:?}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("withheld"));
    assert!(Identity::parse("# nothing\n").is_err());
    assert!(Identity::parse(&format!("{}{}", &*text, text.lines().last().unwrap())).is_err());
}

#[test]
fn one_grant_serves_every_log_sealed_to_the_owner() {
    // Two logs, one grant: the validator reads both without a new grant.
    let w = world(2, 2);
    let owner = w.owner.public();
    for key in [[1u8; 32], [2u8; 32]] {
        let log = WrappedKey::new(&owner, &FileKey::from_bytes(key)).unwrap();
        let cfrags: Vec<_> = w
            .kfrags
            .iter()
            .map(|k| {
                proxy(k, &owner, &log)
                    .verify(&log, &w.validator.public(), Some(&owner))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            log.open_reencrypted(&w.validator, cfrags)
                .unwrap()
                .expose_secret(),
            &key
        );
    }
}

// -------------------------------------------------------------------------------------------
// In a sealed file: the `-> umbral` stanza beside the requester's `hpke-x25519` one.

/// A plaintext of several 64 KiB chunks.
fn log_text() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| b"poex job log line\n"[(i % 18) as usize])
        .collect()
}

fn seal_to(
    requester: &poex_seal::Identity,
    owner: &Public,
    plain: &[u8],
) -> (Vec<u8>, poex_seal::Sealed) {
    let mut sealed = Vec::new();
    let recipients: [&dyn poex_seal::Wrap; 2] = [&requester.recipient(), owner];
    let facts = poex_seal::encrypt_to(&recipients, plain, &mut sealed).unwrap();
    (sealed, facts)
}

#[test]
fn a_sealed_log_opens_for_the_requester_the_owner_and_a_granted_validator() {
    let requester = poex_seal::Identity::generate().unwrap();
    let owner = Identity::generate().unwrap();
    let validator = Identity::generate().unwrap();
    let plain = log_text();
    let (sealed, facts) = seal_to(&requester, &owner.public(), &plain);
    let header = String::from_utf8_lossy(&sealed[..400]).into_owned();
    assert!(
        header.contains("\n-> hpke-x25519 ") && header.contains("\n-> umbral "),
        "{header}"
    );

    // The requester, as before: the umbral stanza is skipped.
    let mut out = Vec::new();
    poex_seal::decrypt(&requester, &sealed[..], &mut out).unwrap();
    assert_eq!(out, plain);

    // The owner, directly.
    let mut out = Vec::new();
    let opened = poex_seal::decrypt_with(&[&owner], &sealed[..], &mut out).unwrap();
    assert_eq!(out, plain);
    assert_eq!(opened.plaintext_sha256, facts.plaintext_sha256);

    // A validator, through 2 of 3 proxies that see only the capsule line.
    let g = grant::grant(&owner, &validator.public(), 2, 3, NOW).unwrap();
    let log = poex_seal::Decryptor::new(&sealed[..]).unwrap();
    let wrapped = WrappedKey::find(log.stanzas()).unwrap();
    let capsule_file = wrapped.capsule().to_line();
    assert!(
        header.contains(&capsule_file),
        "the capsule file is the stanza's line"
    );
    let cfrags: Vec<CapsuleFragment> = [&g.kfrags[2], &g.kfrags[0]]
        .into_iter()
        .map(|k| {
            let capsule = Capsule::parse_line(&capsule_file).unwrap();
            let k = KeyFragment::parse(&k.to_text()).unwrap();
            k.verify(Some(&owner.public())).unwrap().reencrypt(&capsule)
        })
        .collect();
    let checked = cfrags
        .into_iter()
        .map(|c| {
            c.verify(&wrapped, &validator.public(), Some(&owner.public()))
                .unwrap()
        })
        .collect();
    let key = wrapped.open_reencrypted(&validator, checked).unwrap();
    let mut out = Vec::new();
    let opened = log.decrypt(&key, &mut out).unwrap();
    assert_eq!(out, plain);
    assert_eq!(opened.plaintext_sha256, facts.plaintext_sha256);

    // Nobody else: a stranger's identity finds no stanza it opens.
    let stranger = Identity::generate().unwrap();
    let err = poex_seal::decrypt_with(&[&stranger], &sealed[..], &mut Vec::new()).unwrap_err();
    assert!(
        matches!(err, OpenError::NoMatchingStanza { stanzas: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_log_sealed_without_the_owner_cannot_be_granted() {
    let requester = poex_seal::Identity::generate().unwrap();
    let mut sealed = Vec::new();
    poex_seal::encrypt(&[requester.recipient()], &b"log"[..], &mut sealed).unwrap();
    let log = poex_seal::Decryptor::new(&sealed[..]).unwrap();
    let err = WrappedKey::find(log.stanzas()).unwrap_err();
    assert!(matches!(err, GrantError::NoStanza { .. }), "{err}");
    assert!(err.to_string().contains("hpke-x25519"), "{err}");
}

#[test]
fn the_header_mac_binds_the_umbral_stanza_to_its_log() {
    // Two logs of one owner. Moving log A's umbral stanza into log B's header gives a header
    // whose umbral stanza opens (to A's file key), but B's header MAC refuses that key.
    let requester = poex_seal::Identity::generate().unwrap();
    let owner = Identity::generate().unwrap();
    let (a, _) = seal_to(&requester, &owner.public(), b"log A");
    let (b, _) = seal_to(&requester, &owner.public(), b"log B");
    let stanza_text = |sealed: &[u8]| {
        let text = String::from_utf8_lossy(sealed).into_owned();
        let start = text.find("\n-> umbral ").unwrap() + 1;
        let end = start + text[start..].find("\n--- ").unwrap() + 1;
        text[start..end].to_owned()
    };
    let (sa, sb) = (stanza_text(&a), stanza_text(&b));
    let pos = b
        .windows(sb.len())
        .position(|w| w == sb.as_bytes())
        .unwrap();
    let mut spliced = b[..pos].to_vec();
    spliced.extend_from_slice(sa.as_bytes());
    spliced.extend_from_slice(&b[pos + sb.len()..]);
    let err = poex_seal::decrypt_with(&[&owner], &spliced[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(err, OpenError::HeaderMac), "{err}");
}
