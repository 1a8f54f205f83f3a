//! Every resource and module block of eks/*.tf is priced or declared free (cost/resources.yaml),
//! and every price named there is in every region's table: a new resource without a price fails.

use quakestream_cost::coverage::ResourceMap;
use quakestream_cost::prices::PriceBook;
use quakestream_cost::terraform::TerraformDir;

#[test]
fn every_declared_block_is_accounted_for() {
    let tf = TerraformDir::load(&quakestream_cost::cli::repo_eks_dir()).unwrap();
    let declared = tf.declared();
    assert!(declared.len() > 20, "{declared:?}");
    let problems = ResourceMap::bundled()
        .unwrap()
        .problems(&declared, &PriceBook::bundled().unwrap());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_new_resource_without_a_price_fails() {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(quakestream_cost::cli::repo_eks_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tf") {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("extra.tf"),
        "resource \"aws_nat_gateway\" \"extra\" {\n  allocation_id = \"eipalloc-1\"\n  subnet_id     = \"subnet-1\"\n}\n\nmodule \"rds\" {\n  source = \"terraform-aws-modules/rds/aws\"\n}\n",
    )
    .unwrap();
    let tf = TerraformDir::load(dir.path()).unwrap();
    let problems = ResourceMap::bundled()
        .unwrap()
        .problems(&tf.declared(), &PriceBook::bundled().unwrap());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("aws_nat_gateway.extra (extra.tf) has no price"),
        "{problems:?}"
    );
    assert!(problems[1].starts_with("module.rds (extra.tf)"), "{problems:?}");
}

#[test]
fn a_price_missing_from_a_region_fails() {
    let map = ResourceMap::bundled().unwrap();
    let mut book = PriceBook::bundled().unwrap();
    book.tables
        .get_mut("eu-central-1")
        .unwrap()
        .prices
        .remove("waf_requests");
    let problems = map.problems(&[], &book);
    assert_eq!(
        problems,
        ["aws_wafv2_web_acl.frontend: price waf_requests is missing from cost/prices/eu-central-1.yaml"]
    );
}

#[test]
fn non_billable_types_are_explicit() {
    let map = ResourceMap::bundled().unwrap();
    for t in [
        "aws_iam_role",
        "aws_route53_record",
        "kubernetes_namespace_v1",
        "aws_cognito_user_pool_client",
    ] {
        assert!(map.free_types.contains_key(t), "{t}");
    }
    // Anything that can cost money is never free by type.
    for t in [
        "aws_vpc_endpoint",
        "aws_nat_gateway",
        "helm_release",
        "aws_dynamodb_table",
        "aws_lb",
    ] {
        assert!(!map.free_types.contains_key(t), "{t}");
    }
}
