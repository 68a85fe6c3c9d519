// Package deploy holds no code. Its directory holds Strata's deployment
// files, and its tests check them offline:
//
//   - the container image (docker/Dockerfile) and the compose file at the
//     repository root, which runs Strata on MinIO with Prometheus and
//     Grafana (prometheus/, grafana/);
//   - the Terraform module for AWS (aws/): bucket, broker IAM policy and
//     role, one broker on ECS on EC2 with an EBS volume for --data-dir;
//   - the Helm chart (helm/strata/);
//   - example strata config files (examples/).
//
// The tests parse each file, render the Helm chart with text/template and
// sprig (the few Helm-only functions are defined in the test), check that
// the dashboard queries only metrics the broker exports, and run
// `strata serve --check-config` on every strata configuration shipped here.
// `make check-deploy` adds `terraform fmt`.
package deploy
