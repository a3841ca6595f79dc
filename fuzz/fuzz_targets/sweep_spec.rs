//! Any bytes given to nn-train's sweep-spec readers (JSON and TOML) yield a spec or an error,
//! and a spec's trials are planned (each a checked recipe) or refused; never a panic, a hang or
//! a huge allocation. A spec read back survives the trip through `to_json`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_train::sweep::SweepSpec;
use nn_train::sweep::trials::trials;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for spec in [SweepSpec::from_json(text), SweepSpec::from_toml(text)].into_iter().flatten() {
        let back = SweepSpec::from_json(&spec.to_json()).expect("a written spec reads back");
        assert_eq!(back, spec);
        // A spec naming no recipe file plans from a built-in recipe, touching no file.
        if spec.recipe_file.is_none()
            && let Ok(base) = nn_train::sweep::folder::base_recipe(&spec)
        {
            let _ = trials(&spec, &base);
        }
    }
});
