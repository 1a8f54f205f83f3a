//! Prints the QuakeStream CustomResourceDefinition as YAML (`crds/quakestream.yaml`).
fn main() -> anyhow::Result<()> {
    print!("{}", quakestream_operator::crd_yaml()?);
    Ok(())
}
