# real — see README.md. `make help` lists the targets.
GO        ?= go
BIN       := bin/real
TOOLS     := $(GO) tool -modfile=tools/go.mod
PKGS      := ./...

.PHONY: all build test unit bench generate check-generate lint demo clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

build: ## build bin/real
	$(GO) build -o $(BIN) ./cmd/real

test: lint check-generate ## lint, check generated code, run every test (mount and multi-peer tests need root)
	$(GO) test -race -count=1 -timeout 25m $(PKGS)

unit: ## run the tests quickly, without the race detector
	$(GO) test -count=1 $(PKGS)

bench: ## run the benchmarks (figures in README.md)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m $(PKGS)

generate: ## regenerate rpc/gen from rpc/proto with buf
	cd rpc && $(GO) tool -modfile=../tools/go.mod buf generate

check-generate: generate ## fail if regenerating changes rpc/gen
	@git diff --exit-code --stat -- rpc/gen || (echo "rpc/gen is stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- rpc/gen)" || (echo "rpc/gen has untracked generated files: run make generate and commit" >&2; git status --porcelain -- rpc/gen >&2; exit 1)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)
	$(GO) vet $(PKGS)

demo: build ## two peers on loopback, sample files appear on the other; Ctrl-C stops
	$(BIN) demo

clean: ## remove build output
	rm -rf bin
