# The two commands of the README's quick start, and a few conveniences.
.PHONY: up test build release bench-events proto clean

build:
	scripts/setup
	swift build

# Runs the whole platform on this machine: PostgreSQL under .slipway/, the dev broker, every service, the gateway.
up: build
	"$$(swift build --show-bin-path)/slipway" up

# Every test, against a real PostgreSQL and the dev broker that scripts/test starts.
test:
	scripts/test

release:
	scripts/setup
	swift build -c release

bench-events: release
	"$$(swift build -c release --show-bin-path)/slipway" bench events

proto:
	scripts/gen-proto

clean:
	rm -rf .build .slipway-test
