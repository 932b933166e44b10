# Heimdall Operator
VERSION ?= 0.1.0
IMG ?= ghcr.io/heimdall-io/heimdall-operator:v$(VERSION)
BUNDLE_IMG ?= ghcr.io/heimdall-io/heimdall-operator-bundle:v$(VERSION)
K8S_VERSION ?= 1.37.2
CONTROLLER_GEN ?= go tool controller-gen
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD and RBAC manifests from markers, then dist/install.yaml from config/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-docs config/crd/bases/heimdall.io_heimdallinstances.yaml docs/api.md
	@$(MAKE) --no-print-directory build-installer
	@$(MAKE) --no-print-directory bundle

.PHONY: generate
generate: ## Generate DeepCopy code from markers.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when generated code or manifests are stale.
	@git diff --exit-code -- api config docs/api.md dist bundle bundle.Dockerfile || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config docs dist bundle | grep '^??')" || { echo "untracked generated files: commit them"; git status --porcelain -- api config dist bundle; exit 1; }

.PHONY: k8s-binaries
k8s-binaries: ## Build kube-apiserver, etcd and kubectl from Go modules into the cache (once per version).
	K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh kube-apiserver etcd kubectl

.PHONY: sim-binaries
sim-binaries: k8s-binaries ## Also build kube-controller-manager, kube-scheduler and kwok for the simulated cluster (test-e2e, demo).
	K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh kube-controller-manager kube-scheduler kwok

.PHONY: test
test: verify-generated vet test-operator test-server test-e2e ## Run every test: envtest suites, server on real PostgreSQL/Redis, end-to-end on the simulated cluster.

.PHONY: test-operator
test-operator: k8s-binaries ## Run the operator's unit and envtest suites (the backup scripts run on a real PostgreSQL).
	$(MAKE) -C server test-deps
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh | tail -n1)" go test -race -count=1 ./...

.PHONY: test-install
test-install: k8s-binaries ## Render config/, install it on envtest and reconcile under its own RBAC; check the compose stack.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh | tail -n1)" go test -count=1 ./test/install/... ./test/compose/...

.PHONY: test-e2e
test-e2e: sim-binaries build ## Run the end-to-end suite: bin/manager under its own RBAC on a simulated cluster (kwok nodes).
	$(MAKE) -C server test-deps build
	cd server && CGO_ENABLED=0 go build -trimpath -o bin/heimdall-e2e-backends ./cmd/e2e-backends
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh | tail -n1)" go test -tags e2e -count=1 -p 1 -timeout 30m ./hack/simcluster/... ./hack/demo/... ./test/e2e/... $(E2E_ARGS)

.PHONY: test-server
test-server: ## Run the server's tests against real PostgreSQL and Redis.
	$(MAKE) -C server test

.PHONY: bench
bench: k8s-binaries ## Run the operator's benchmarks.
	KUBEBUILDER_ASSETS="$$(hack/k8s-binaries.sh | tail -n1)" go test -run '^$$' -bench . -benchmem ./...

##@ Build

.PHONY: build
build: ## Build the manager binary.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager .

.PHONY: run
run: manifests generate ## Run the operator against the cluster in ~/.kube/config.
	go run . --leader-elect=false

.PHONY: demo
demo: sim-binaries build ## Simulated cluster + operator + the sample until Ready=True; prints what it made. Ctrl-C stops it.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh | tail -n1)" go run ./hack/demo $(DEMO_ARGS)

.PHONY: build-installer
build-installer: ## Render config/default with the image IMG into dist/install.yaml (one file for kubectl apply -f).
	@mkdir -p dist
	cd config/manager && go tool kustomize edit set image controller=$(IMG)
	go tool kustomize build config/default > dist/install.yaml.tmp && mv dist/install.yaml.tmp dist/install.yaml

.PHONY: docker-build
docker-build: ## Build the operator image (needs Docker).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the operator image.
	docker push $(IMG)

##@ OLM

.PHONY: bundle
bundle: ## Generate bundle/ and bundle.Dockerfile for VERSION and IMG from config/, then validate them.
	go run ./hack/bundle -version $(VERSION) -image $(IMG)

.PHONY: test-bundle
test-bundle: k8s-binaries ## Validate the committed bundle as OLM would (envtest) and test the Argo CD health check and drift.
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/k8s-binaries.sh | tail -n1)" go test -count=1 ./hack/bundle/... ./test/gitops/...

.PHONY: bundle-build
bundle-build: ## Build the bundle image (needs Docker).
	docker build -f bundle.Dockerfile -t $(BUNDLE_IMG) .

.PHONY: bundle-push
bundle-push: ## Push the bundle image.
	docker push $(BUNDLE_IMG)
