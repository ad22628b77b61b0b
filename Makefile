# Everyday tasks. Each is a plain command you can also run yourself;
# .ci/run runs all of them as CI does. "make help" lists them.

GO            ?= go
GOLANGCI_LINT_VERSION ?= v2.15.0
BIN           := $(CURDIR)/bin
export PATH   := $(BIN):$(PATH)

.PHONY: help tools generate lint test e2e bench ci

help: ## list the tasks
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## build buf, grpcurl and the protoc plugins pinned in tools/go.mod into bin/
	$(GO) -C tools build -o $(BIN)/ tool

generate: tools ## regenerate gen/, openapi/ and docs/config.md
	buf lint
	buf generate
	$(GO) generate ./config

lint: ## go vet, the import rules, golangci-lint and buf lint/breaking against main
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/archtest
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...
	$(MAKE) tools
	buf lint
	buf breaking --against ".git#ref=$$(git merge-base HEAD main)"

test: ## the README's test command: every package, e2e included
	$(GO) test ./...

e2e: ## the end-to-end tests alone, against the built binary
	$(GO) test -count=1 ./e2e

bench: ## the load harness against a fresh server (see docs/performance.md)
	bash bench/run.sh

ci: ## everything CI checks, with every service started
	bash .ci/run
