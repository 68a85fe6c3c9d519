# Strata. `make` lists the targets; `make run` and `make test` are the two
# commands the README promises.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
# git describe fails without tags (--always falls back to the commit) and
# without commits or git at all (then the version is "dev").
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# Extra arguments for `make run`, e.g. make run ARGS='--fsync never'.
ARGS      ?=
TEST_TAGS := invariants
# Per fuzz target: `make fuzz` (FUZZTIME=30s), `make test` (SHORTFUZZ each).
# The short run counts executions rather than seconds: a timed run that ends
# while the fuzzer minimizes a new input fails with "context deadline
# exceeded" on a loaded machine, whatever the code under test does.
FUZZTIME  ?= 30s
SHORTFUZZ ?= 20000x
BENCHTIME ?= 1x
# The MinIO server the object-store tests start as a separate process (it is
# AGPL: never linked). internal/miniotest pins the same version and installs
# it itself when run without make.
MINIO     := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
TOOLS_BIN := $(CURDIR)/.tools/bin

.PHONY: help build run tools test test-race fuzz fuzz-short soak bench cover fmt check-fmt vet lint check-deploy clean

help: ## list the targets
	@echo "Usage: make <target> [VAR=value]"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build bin/strata with version info
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/strata ./cmd/strata

run: build ## build, then run `strata serve` with the defaults (add flags with ARGS='...')
	./bin/strata serve $(ARGS)

tools: ## download modules and install the Go tools the tests need (MinIO: a few minutes the first time)
	$(GO) mod download
	@test -x $(TOOLS_BIN)/minio || { echo "installing $(MINIO) into $(TOOLS_BIN)"; GOBIN=$(TOOLS_BIN) $(GO) install $(MINIO); }

test: tools ## the whole suite: every test with -tags invariants under -race, then each fuzz target briefly
	CGO_ENABLED=1 $(GO) test -tags $(TEST_TAGS) -race -count=1 -timeout 25m ./...
	$(call run-fuzz,$(SHORTFUZZ),100x)

test-race: test ## alias of test (which always runs under -race)

fuzz: ## run every Fuzz* target for FUZZTIME each (default 30s)
	$(call run-fuzz,$(FUZZTIME),10s)

fuzz-short: ## run every Fuzz* target for SHORTFUZZ executions each
	$(call run-fuzz,$(SHORTFUZZ),100x)

# run-fuzz runs each `func FuzzX(` found in a _test.go file of the module for
# $(1), one target at a time (go test -fuzz takes one package and one target).
define run-fuzz
	@n=0; \
	for file in $$(grep -rlE --include='*_test.go' --exclude-dir=.git --exclude-dir=.tools \
			--exclude-dir=testdata --exclude-dir=bin '^func Fuzz[A-Za-z0-9_]*\(' . | sort); do \
		pkg=$$(dirname "$$file"); \
		for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$file"); do \
			echo "fuzz $$pkg $$name for $(1)"; \
			$(GO) test -tags $(TEST_TAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(1) -fuzzminimizetime $(2) "$$pkg"; \
			n=$$((n+1)); \
		done; \
	done; \
	echo "fuzzed $$n targets for $(1) each"
endef

SOAK ?= 30m
soak: tools ## not in CI: SOAK (default 30m) of produce, group consumption, broker kills and MinIO restarts, then a full check
	STRATA_SOAK=$(SOAK) $(GO) test -tags $(TEST_TAGS) -count=1 -timeout 90m -run '^TestSoak$$' -v ./e2e/ | grep -E '^(=== RUN|---|PASS|FAIL|ok)|soak_test.go'

bench: ## run the benchmark in ./bench (Strata against kfake; BENCHTIME=1x)
	@test -d bench || { echo "make bench: ./bench does not exist yet" >&2; exit 1; }
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 30m ./bench/

cover: ## unit tests with a coverage profile in cover.out
	$(GO) test -tags $(TEST_TAGS) -count=1 -timeout 25m -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -n 1

GOFILES = $$(find . -name '*.go' -not -path './.git/*' -not -path './.tools/*' -not -path './bin/*' -not -path '*/testdata/*')

fmt: ## format the Go code with gofmt
	gofmt -w $(GOFILES)

check-fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $(GOFILES)); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run make fmt):"; echo "$$out"; exit 1; fi

vet: ## go vet, with the test build tags
	$(GO) vet -tags $(TEST_TAGS) ./...

lint: vet ## static checks (go vet for now)

TERRAFORM ?= terraform

# `terraform validate` is not part of it: it needs `terraform init`, which
# downloads the AWS provider from registry.terraform.io.
check-deploy: ## offline checks of deploy/: terraform fmt, then the ./deploy tests (compose, dashboard, Helm chart, --check-config)
	@command -v $(TERRAFORM) >/dev/null 2>&1 || { \
		echo "make check-deploy: $(TERRAFORM) not found; install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) or set TERRAFORM=/path/to/terraform" >&2; \
		exit 1; }
	$(TERRAFORM) fmt -check -recursive -diff deploy/aws
	$(GO) test -count=1 ./deploy/

clean: ## remove build and test outputs
	rm -rf bin cover.out
