# A thin front to Meson. `make`, `make test`, `make demo`.
.PHONY: all build deps test unit integration demo clean format

BUILD ?= build
ASAN_BUILD ?= build-asan

all: build

deps:
	@scripts/install-deps

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) -Dtests=enabled
	@ninja -C $(BUILD)

# Unit tests (plain and under AddressSanitizer + UBSan), then integration
# tests against a real kube-apiserver started by test/cluster/up.
test: build
	scripts/run-tests

unit: build
	meson test -C $(BUILD) --print-errorlogs

demo: build
	scripts/demo

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
