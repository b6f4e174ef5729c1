# plumb's build, test and demo entry points. Everything the tests need beyond
# Go, git, gcc and kubectl is built from Go modules into .cache/ (ignored by
# git), keyed by the pinned versions, so it is built once per pin change.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export GOTOOLCHAIN := local
GO ?= go

CACHE := $(CURDIR)/.cache
TOOLS := hack/tools
KUBE_VERSION := v1.37.2

# The control plane binaries live in a directory named after a hash of the
# tools modules (go.mod, go.sum, sources), so changing any pin builds a new
# set and an unchanged pin never rebuilds. .cache/testenv/current points at
# the set in use, for `go test` run without make.
TESTENV_MODS := $(TOOLS)/etcd $(TOOLS)/kube $(TOOLS)/kwok
TESTENV_KEY := $(shell cat $(sort $(wildcard $(addsuffix /go.mod,$(TESTENV_MODS)) $(addsuffix /go.sum,$(TESTENV_MODS)) $(addsuffix /*.go,$(TESTENV_MODS)))) | sha256sum | cut -c1-16)
TESTENV := $(CACHE)/testenv/$(TESTENV_KEY)
export PLUMB_TESTENV_BIN := $(TESTENV)

KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean
KUBE_BINS := kube-apiserver kube-controller-manager kube-scheduler
TESTENV_FILES := $(TESTENV)/etcd $(addprefix $(TESTENV)/,$(KUBE_BINS)) $(TESTENV)/kwok $(TESTENV)/kwok-stages.yaml
# pod/fast: pods become Ready as soon as they are scheduled. kwok's
# pod/general adds 1-6 s of random start-up delay per pod (and random
# deletion delays), which only makes the tests' waits longer and noisier;
# plumb's own latencies are what the tests measure.
KWOK_STAGES := node/fast node/heartbeat-with-lease pod/fast

GO_TEST_TIMEOUT ?= 30m
# Reference tools the tests compare against, built from their own pinned
# tools modules into .cache/tools/<name>/<hash>/ (current -> the set in use).
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0
HELM_KEY := $(shell (cat $(TOOLS)/helm/go.mod $(TOOLS)/helm/go.sum; echo '$(HELM_LDFLAGS)') | sha256sum | cut -c1-16)
HELM := $(CACHE)/tools/helm/$(HELM_KEY)/helm
export PLUMB_HELM := $(HELM)
CONTROLLER_GEN_KEY := $(shell cat $(TOOLS)/controller-gen/go.mod $(TOOLS)/controller-gen/go.sum | sha256sum | cut -c1-16)
CONTROLLER_GEN := $(CACHE)/tools/controller-gen/$(CONTROLLER_GEN_KEY)/controller-gen
export PLUMB_CONTROLLER_GEN := $(CONTROLLER_GEN)
GOTESTSUM_KEY := $(shell cat $(TOOLS)/gotestsum/go.mod $(TOOLS)/gotestsum/go.sum | sha256sum | cut -c1-16)
GOTESTSUM := $(CACHE)/tools/$(GOTESTSUM_KEY)/gotestsum

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# plumb is built static (CGO_ENABLED=0), as it ships: it runs on any base
# image, and without cgo Go's plugin package (imported by Kustomize's plugin
# loader, which plumb never uses) stops the linker from exporting every
# symbol for dynamic linking: a quarter smaller, and less of it resident.
.PHONY: build
build: ## Build bin/plumb
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o bin/plumb ./cmd/plumb

.PHONY: testenv
testenv: $(TESTENV_FILES) ## Build the test control plane (etcd, kube-*, kwok) into .cache/testenv
	@ln -sfn $(TESTENV_KEY) $(CACHE)/testenv/current

$(TESTENV)/etcd:
	@mkdir -p $(TESTENV)
	@echo ">> building etcd (go.etcd.io/etcd/server/v3) into $(TESTENV)"
	cd $(TOOLS)/etcd && $(GO) build -trimpath -ldflags='-s -w' -o $@.tmp . && mv $@.tmp $@

# One go build for the three kube binaries shares the compile of k8s.io/kubernetes.
$(addprefix $(TESTENV)/,$(KUBE_BINS)) &:
	@mkdir -p $(TESTENV)/.kube.tmp
	@echo ">> building $(KUBE_BINS) $(KUBE_VERSION) (k8s.io/kubernetes) into $(TESTENV); a cold build takes minutes"
	cd $(TOOLS)/kube && $(GO) build -trimpath -ldflags='$(KUBE_LDFLAGS)' -o $(TESTENV)/.kube.tmp/ $(addprefix k8s.io/kubernetes/cmd/,$(KUBE_BINS))
	for b in $(KUBE_BINS); do mv $(TESTENV)/.kube.tmp/$$b $(TESTENV)/$$b; done
	@rmdir $(TESTENV)/.kube.tmp

$(TESTENV)/kwok:
	@mkdir -p $(TESTENV)
	@echo ">> building kwok (sigs.k8s.io/kwok) into $(TESTENV)"
	cd $(TOOLS)/kwok && $(GO) build -trimpath -ldflags='-s -w' -o $@.tmp sigs.k8s.io/kwok/cmd/kwok && mv $@.tmp $@

# kwok's own Stage sets that make nodes Ready and pods Running and Ready,
# taken from the pinned kwok module.
.PHONY: tools
tools: $(HELM) $(CONTROLLER_GEN) ## Build the tools the tests use (helm for parity, controller-gen for the CRD)
	@ln -sfn $(HELM_KEY) $(CACHE)/tools/helm/current
	@ln -sfn $(CONTROLLER_GEN_KEY) $(CACHE)/tools/controller-gen/current

$(CONTROLLER_GEN):
	@mkdir -p $(dir $@)
	@echo ">> building controller-gen (sigs.k8s.io/controller-tools) into $(dir $@)"
	cd $(TOOLS)/controller-gen && $(GO) build -trimpath -ldflags='-s -w' -o $@.tmp sigs.k8s.io/controller-tools/cmd/controller-gen && mv $@.tmp $@

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deep-copy methods and the App CRD (examples/install) from api/
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=examples/install

$(HELM):
	@mkdir -p $(dir $@)
	@echo ">> building helm (helm.sh/helm/v3) into $(dir $@)"
	cd $(TOOLS)/helm && $(GO) build -trimpath -ldflags='$(HELM_LDFLAGS)' -o $@.tmp helm.sh/helm/v3/cmd/helm && mv $@.tmp $@

$(GOTESTSUM):
	@mkdir -p $(dir $@)
	cd $(TOOLS)/gotestsum && $(GO) build -trimpath -o $@.tmp gotest.tools/gotestsum && mv $@.tmp $@

$(TESTENV)/kwok-stages.yaml: Makefile
	@mkdir -p $(TESTENV)
	dir=$$(cd $(TOOLS)/kwok && $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok); \
	for s in $(KWOK_STAGES); do \
	  for f in $$dir/kustomize/stage/$$s/*.yaml; do \
	    case $$f in */kustomization.yaml) continue;; esac; \
	    echo "---"; cat $$f; \
	  done; \
	done > $@.tmp && mv $@.tmp $@

.PHONY: test
# The reliability and security tests (faults, bad inputs, leak searches)
# and the fuzz runs record themselves here; hack/summary prints the summary.
REPORT := $(CACHE)/test-report.jsonl
export PLUMB_TEST_REPORT := $(REPORT)

test: testenv tools $(GOTESTSUM) ## Run every test (control plane, git server, fault suite), then the fuzz targets, then print the summary
	@mkdir -p $(CACHE) && rm -f $(REPORT)
	$(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg -- -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	@hack/check-no-orphans.sh $(TESTENV)
	@$(MAKE) fuzz
	@$(GO) run ./hack/summary $(REPORT)

.PHONY: test-faults
test-faults: testenv tools $(GOTESTSUM) ## Run only the fault suite, the bad input catalogue and the leak and privilege tests, then print the summary
	@mkdir -p $(CACHE) && rm -f $(REPORT)
	$(GOTESTSUM) --format testname -- -count=1 -timeout $(GO_TEST_TIMEOUT) -run '^(TestFault|TestBadInput|TestLeak|TestLeastPrivilege|TestSecretValueNeverPrinted|TestServeGitOutage)' ./cmd/plumb
	@hack/check-no-orphans.sh $(TESTENV)
	@$(GO) run ./hack/summary $(REPORT)

.PHONY: test-short
test-short: $(GOTESTSUM) ## Run the tests that need no control plane
	$(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg -- -short -count=1 ./...

FUZZTIME ?= 10s
FUZZ_TARGETS := ./git:FuzzNormalizeURL ./git:FuzzVerify ./git:FuzzParsePush ./render:FuzzDecodeStream ./diff:FuzzFitMarkdown ./escape:FuzzMarkdown ./render/sandbox:FuzzWorkerResponse ./render/sandbox:FuzzWorkerRequest

.PHONY: fuzz
# The shell runs with -e: a run's status is taken with "|| rc=$$?", or a
# failure would end the loop before its log is printed. Go 1.26's fuzzing
# coordinator can fail a run with a bare "context deadline exceeded" as
# -fuzztime ends (golang/go#75804, fixed in Go 1.27): such a run, which
# wrote no failing input, passes with a note; any failing input fails.
fuzz: ## Run each fuzz target for FUZZTIME (default 10s); findings land in testdata/fuzz as seeds
	@mkdir -p $(CACHE)
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo ">> $$fn ($$pkg, $(FUZZTIME))"; \
	  log=$(CACHE)/fuzz-$$fn.log; \
	  rc=0; $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1 || rc=$$?; \
	  grep -v '^fuzz: elapsed' $$log || true; \
	  if [ $$rc -ne 0 ] && grep -q '^    context deadline exceeded$$' $$log && ! grep -q 'Failing input written' $$log; then \
	    echo "fuzz $$fn: Go's end-of-fuzztime race (golang/go#75804), no failing input: passed"; rc=0; \
	  fi; \
	  [ $$rc -eq 0 ] || { echo "fuzz $$fn: exit $$rc; the log's end:"; tail -n 40 $$log; }; \
	  execs=$$(grep -o 'execs: [0-9]*' $$log | tail -1 | cut -d' ' -f2 || true); \
	  ok=true; [ $$rc -eq 0 ] || ok=false; \
	  echo "{\"kind\":\"fuzz\",\"name\":\"$$fn\",\"ok\":$$ok,\"objectsLost\":0,\"leaks\":0,\"execs\":$${execs:-0}}" >> $(REPORT); \
	  [ $$rc -eq 0 ] || exit 1; \
	done

.PHONY: lint
lint: ## Check formatting, run go vet and check file and function sizes (hack/sizes)
	@out=$$(git ls-files --cached --others --exclude-standard '*.go' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./hack/sizes

.PHONY: demo
demo: testenv build ## Run plumb against a local control plane with kwok nodes (Ctrl-C stops everything)
	$(GO) build -o bin/plumb-demo ./hack/demo
	bin/plumb-demo --plumb bin/plumb

.PHONY: bench
bench: testenv tools build ## Run the render and cluster benchmarks (PLUMB_BENCH_SIZES, default 100,1501,10000) and write docs/benchmarks.md
	PLUMB_BIN=$(CURDIR)/bin/plumb hack/bench.sh

.PHONY: clean
clean: ## Remove bin/ (keeps the .cache of control plane binaries)
	rm -rf bin
