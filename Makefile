# Switchboard's commands. `make test` is exactly what CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test test-postgres bench lint fmt check-direction migrate clean

## Build and start the server on 127.0.0.1:8080 (SQLite under ./data, migrated on start).
run:
	$(CARGO) run -p switchboard --bin switchboard -- serve

## Apply database migrations and exit.
migrate:
	$(CARGO) run -p switchboard --bin switchboard -- migrate

## Every test: unit, storage contracts (SQLite and PostgreSQL), CLI, and the black-box suite on
## SQLite, then the black-box suite again on PostgreSQL.
test:
	$(CARGO) test --workspace --all-targets
	SWITCHBOARD_TEST_DATABASE=postgres $(CARGO) test -p switchboard-tests --test api

## Criterion benchmarks (figures are reported in docs/performance.md).
bench:
	$(CARGO) bench --workspace

## Formatting, clippy with warnings denied, documentation, and the dependency direction.
lint: check-direction
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

fmt:
	$(CARGO) fmt --all

## The domain knows no framework, database driver or HTTP client; sea-orm stays in storage and
## migrations; audio knows only the domain.
check-direction:
	@set -e; \
	for crate in actix-web sea-orm reqwest tokio-tungstenite; do \
	  if $(CARGO) tree -p switchboard-domain -e normal -i $$crate >/dev/null 2>&1; then \
	    echo "switchboard-domain depends on $$crate"; exit 1; fi; \
	done; \
	for crate in actix-web sea-orm reqwest; do \
	  if $(CARGO) tree -p switchboard-audio -e normal -i $$crate >/dev/null 2>&1; then \
	    echo "switchboard-audio depends on $$crate"; exit 1; fi; \
	done; \
	users=$$($(CARGO) tree --workspace -e normal -i sea-orm --depth 1 --prefix none 2>/dev/null \
	  | grep -o '^switchboard[a-z-]*' | sort -u | tr '\n' ' '); \
	for user in $$users; do \
	  case $$user in switchboard-storage|switchboard-migrations) ;; \
	  *) echo "$$user depends on sea-orm directly; only storage and migrations may"; exit 1;; esac; \
	done; \
	echo "dependency direction: ok"

clean:
	$(CARGO) clean
