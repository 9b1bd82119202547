# nb201_latency.nas -- NAS-Bench-201 under a latency budget on a recorded device
# The network of nb201.nas with one more rule per cell: its output must stay connected
# to its input.  A cell cut off by 'none' edges computes a constant; the recorded tables'
# latencies for those measure what the device's runtime folded away, and the recorded
# predictor does not model them (docs/recorded_latency.md).
import "nb201.nas" as nb

shared block nb201_cell(C)(x0) {
    e01 = x0 |> nb.nb201_edge(C)
    x1 = e01
    e02 = x0 |> nb.nb201_edge(C)
    e12 = x1 |> nb.nb201_edge(C)
    x2 = e02 + e12
    e03 = x0 |> nb.nb201_edge(C)
    e13 = x1 |> nb.nb201_edge(C)
    e23 = x2 |> nb.nb201_edge(C)
    x3 = e03 + e13 + e23
    constraint connected(x0, x3)
    return x3
}

# `nasc search` measures the architecture it finds on the Raspberry Pi 4 (a lookup in
# NAS-Bench-201's tables), refits its latency model and searches again until the budget
# holds without wasting it (docs/latency_loop.md); `extends nb201_raspi4(budget = 18ms)`
# sets another budget.
space nb201_raspi4(C = 16, N = 5, classes = 10, budget = 25ms) {
    input x: f32[B, 3, 32, 32]
    h = x |> conv(C, 3) |> bn
    repeat N {
        h = h |> nb201_cell(C)
    }
    h = h |> resnet_basic(2 * C, stride = 2)
    repeat N {
        h = h |> nb201_cell(2 * C)
    }
    h = h |> resnet_basic(4 * C, stride = 2)
    repeat N {
        h = h |> nb201_cell(4 * C)
    }
    output logits: f32[B, classes] = h |> bn |> relu |> gap |> linear(classes)

    constraint latency <= budget on recorded-raspi4
}

# A search in minutes on 2 CPU cores: digits upsampled to NB201's 3 x 32 x 32 inputs, a
# small share of them, GDAS (one sampled path per step instead of the whole supernet).
experiment quick {
    dataset = "sklearn:digits32"
    split {
        train = 0.05
        val = 0.05
        test = 0.9
    }
    search {
        algo = "gdas"
        epochs = 2
        batch = 45
        a_lr = 0.05
        tau_start = 4.0
        tau_end = 1.0
    }
    train {
        epochs = 5
    }
}
