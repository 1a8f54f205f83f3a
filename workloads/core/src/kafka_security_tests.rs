use super::*;
use clap::Parser;
use std::collections::BTreeMap;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    security: KafkaSecurityArgs,
}

fn args(argv: &[&str]) -> KafkaSecurityArgs {
    Cli::try_parse_from(std::iter::once("t").chain(argv.iter().copied()))
        .expect("flags parse")
        .security
}

fn settings(s: &KafkaSecurity) -> BTreeMap<&'static str, String> {
    s.settings().map(|(k, v)| (k, v.to_owned())).collect()
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
            ("user.crt", "-----BEGIN CERTIFICATE-----\n"),
            ("user.key", "-----BEGIN PRIVATE KEY-----\n"),
            ("password", "s3cret\n"),
            ("empty", "\n"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

#[test]
fn plaintext_is_the_default_and_sets_only_the_protocol() {
    let s = KafkaSecurity::from_args(&args(&[])).unwrap();
    assert_eq!(s.protocol(), SecurityProtocol::Plaintext);
    assert_eq!(
        settings(&s),
        BTreeMap::from([("security.protocol", "plaintext".to_owned())])
    );
    assert_eq!(KafkaSecurity::plaintext().settings().count(), 0);
}

#[test]
fn mutual_tls_renders_the_three_files() {
    let f = Files::new();
    let (ca, cert, key) = (f.path("ca.crt"), f.path("user.crt"), f.path("user.key"));
    let a = args(&[
        "--kafka-security-protocol",
        "ssl",
        "--kafka-ca-file",
        &ca,
        "--kafka-cert-file",
        &cert,
        "--kafka-key-file",
        &key,
    ]);
    let s = KafkaSecurity::from_args(&a).unwrap();
    assert_eq!(
        settings(&s),
        BTreeMap::from([
            ("security.protocol", "ssl".to_owned()),
            ("ssl.ca.location", ca),
            ("ssl.certificate.location", cert),
            ("ssl.key.location", key),
        ])
    );
    let mut c = ClientConfig::new();
    s.apply(&mut c);
    assert_eq!(c.get("security.protocol"), Some("ssl"));
    assert_eq!(c.get("sasl.mechanism"), None);
}

#[test]
fn scram_reads_the_password_and_never_prints_it() {
    let f = Files::new();
    let (ca, pw) = (f.path("ca.crt"), f.path("password"));
    let a = args(&[
        "--kafka-security-protocol",
        "sasl_ssl",
        "--kafka-ca-file",
        &ca,
        "--kafka-sasl-username",
        "demo-consumer",
        "--kafka-sasl-password-file",
        &pw,
    ]);
    let s = KafkaSecurity::from_args(&a).unwrap();
    let m = settings(&s);
    assert_eq!(m["security.protocol"], "sasl_ssl");
    assert_eq!(m["sasl.mechanism"], "SCRAM-SHA-512");
    assert_eq!(m["sasl.username"], "demo-consumer");
    assert_eq!(m["sasl.password"], "s3cret", "the trailing newline is dropped");
    assert_eq!(m["ssl.ca.location"], ca);
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");
}

#[test]
fn server_verification_without_a_ca_file_uses_the_system_store() {
    let s = KafkaSecurity::from_args(&args(&["--kafka-security-protocol", "ssl"])).unwrap();
    assert_eq!(settings(&s).len(), 1);
}

#[test]
fn refuses_flags_that_do_not_fit_the_protocol() {
    let f = Files::new();
    let (ca, cert, key, pw) = (
        f.path("ca.crt"),
        f.path("user.crt"),
        f.path("user.key"),
        f.path("password"),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--kafka-ca-file", &ca],
            "--kafka-ca-file needs --kafka-security-protocol ssl or sasl_ssl",
        ),
        (vec!["--kafka-sasl-username", "u"], "--kafka-sasl-username needs"),
        (
            vec!["--kafka-security-protocol", "ssl", "--kafka-cert-file", &cert],
            "--kafka-security-protocol ssl needs --kafka-key-file",
        ),
        (
            vec!["--kafka-security-protocol", "ssl", "--kafka-key-file", &key],
            "needs --kafka-cert-file",
        ),
        (
            vec!["--kafka-security-protocol", "ssl", "--kafka-sasl-password-file", &pw],
            "--kafka-sasl-password-file needs --kafka-security-protocol sasl_ssl",
        ),
        (
            vec![
                "--kafka-security-protocol",
                "sasl_ssl",
                "--kafka-sasl-password-file",
                &pw,
            ],
            "needs --kafka-sasl-username",
        ),
        (
            vec!["--kafka-security-protocol", "sasl_ssl", "--kafka-sasl-username", "u"],
            "needs --kafka-sasl-password-file",
        ),
        (
            vec!["--kafka-security-protocol", "sasl_ssl", "--kafka-cert-file", &cert],
            "--kafka-cert-file needs --kafka-security-protocol ssl",
        ),
    ];
    for (argv, want) in cases {
        let err = KafkaSecurity::from_args(&args(&argv)).unwrap_err();
        assert!(err.to_string().contains(want), "{argv:?}: {err}");
    }
}

#[test]
fn missing_unreadable_and_empty_files_are_refused_at_start_up() {
    let f = Files::new();
    let gone = f.path("no-such.crt");
    let err =
        KafkaSecurity::from_args(&args(&["--kafka-security-protocol", "ssl", "--kafka-ca-file", &gone])).unwrap_err();
    assert_eq!(err.code(), "file_unreadable");
    assert!(
        err.to_string().starts_with(&format!("--kafka-ca-file {gone}: ")),
        "{err}"
    );

    let dir = f.dir.path().display().to_string();
    let err =
        KafkaSecurity::from_args(&args(&["--kafka-security-protocol", "ssl", "--kafka-ca-file", &dir])).unwrap_err();
    assert_eq!(err.code(), "file_unreadable", "a directory is not a certificate");

    let empty = f.path("empty");
    for argv in [
        vec!["--kafka-security-protocol", "ssl", "--kafka-ca-file", &empty],
        vec![
            "--kafka-security-protocol",
            "sasl_ssl",
            "--kafka-sasl-username",
            "u",
            "--kafka-sasl-password-file",
            &empty,
        ],
    ] {
        let err = KafkaSecurity::from_args(&args(&argv)).unwrap_err();
        assert_eq!(err.code(), "file_empty", "{argv:?}: {err}");
    }
}

#[test]
fn unknown_protocols_are_refused_by_the_parser() {
    let err = Cli::try_parse_from(["t", "--kafka-security-protocol", "sasl_plaintext"])
        .err()
        .unwrap();
    assert!(err.to_string().contains("sasl_plaintext"), "{err}");
}

#[test]
fn this_librdkafka_accepts_every_protocol() {
    // Built with the `ssl` feature: without OpenSSL, librdkafka refuses `ssl` and `sasl_ssl`
    // (and SCRAM) when the client is configured.
    let f = Files::new();
    let pw = f.path("password");
    for argv in [
        vec!["--kafka-security-protocol", "ssl"],
        vec![
            "--kafka-security-protocol",
            "sasl_ssl",
            "--kafka-sasl-username",
            "u",
            "--kafka-sasl-password-file",
            &pw,
        ],
    ] {
        let s = KafkaSecurity::from_args(&args(&argv)).unwrap();
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:1");
        s.apply(&mut c);
        let created: Result<rdkafka::producer::BaseProducer, _> = c.create();
        assert!(created.is_ok(), "{argv:?}: {:?}", created.err());
    }
}
