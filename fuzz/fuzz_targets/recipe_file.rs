//! Any bytes given to nn-train's recipe-file reader yield a checked recipe or an error; never a
//! panic, a hang or a huge allocation. A recipe read back survives the trip through `to_json`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_train::recipe::Recipe;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(recipe) = Recipe::from_json(text, "fuzz") {
        let back = Recipe::from_json(&recipe.to_json(), "fuzz").expect("a written recipe reads back");
        assert_eq!(back, recipe);
    }
});
