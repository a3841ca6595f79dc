//! Whether a forward pass is for training or for inference, and where its randomness comes from.

/// How a layer runs: for inference (every unit kept, nothing random), or for training, with the
/// randomness of dropout drawn from a seed.
///
/// In training, sample `j` of a batch draws from a stream fixed by `(seed, first_sample + j)`
/// and the layer's position alone, so a mask does not depend on how a batch is cut into shards
/// or on the thread that computes it: the same seed gives the same model bit for bit. A trainer
/// gives each batch its own `seed` and each shard the index of its first sample in the batch.
/// The backward pass receives the same mode and draws the same masks again instead of storing
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inference: dropout keeps every unit.
    Inference,
    /// Training, with the randomness of the batch.
    Training {
        /// The batch's seed.
        seed: u64,
        /// The position in the batch of the first sample given to the network.
        first_sample: u64,
    },
}

impl Mode {
    /// Training with the given batch seed, the samples given being the first of the batch.
    pub const fn training(seed: u64) -> Self {
        Mode::Training { seed, first_sample: 0 }
    }

    /// Whether this is a training pass.
    pub const fn is_training(self) -> bool {
        matches!(self, Mode::Training { .. })
    }

    /// The mode as seen by layer `index`: its own seed, so that two dropout layers draw
    /// different masks. [`Network`](crate::Network) gives each layer this; a loop that runs the
    /// layers itself does the same to draw the network's masks.
    pub fn for_layer(self, index: usize) -> Self {
        match self {
            Mode::Inference => Mode::Inference,
            Mode::Training { seed, first_sample } => {
                Mode::Training { seed: mix_seed(seed ^ mix_seed(index as u64 + 0x9e37_79b9)), first_sample }
            }
        }
    }
}

/// SplitMix64's finaliser: a bijection of `u64` that scatters every input bit over the output.
/// Seeds are derived with it (a layer's from the batch's, a sample's mask key, and a trainer's
/// batch seeds from its run seed), so that nearby numbers give unrelated seeds.
///
/// ```
/// assert_ne!(nn_core::mix_seed(1) ^ nn_core::mix_seed(2), 3);
/// ```
#[inline(always)]
pub const fn mix_seed(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
