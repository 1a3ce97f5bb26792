# Thin wrappers over scripts/ (the scripts are what the README and CI use).
.PHONY: test run bundle install bench setup
setup:
	scripts/setup.sh
test:
	scripts/test.sh
run:
	scripts/run.sh
bundle:
	cargo run --release -p platerestore-bundle -- build
install: bundle
	cargo run --release -p platerestore-bundle -- install $(if $(OFX_DIR),--dir $(OFX_DIR),) $(if $(FORCE),--force,)
bench:
	cargo bench --workspace
