# reference.nas -- the fixed reference workload of `nasc bench` (nasc/bench/reference.py).
# reference.onnx beside it is this arch built with `nasc build --backend onnxruntime`
# (seeded initialization, seed 0); its sha256 is pinned in reference.py, so changing either
# file changes every ratio a baseline holds and is caught by tests/test_bench.py.
arch bench_reference {
    input x: f32[B, 1, 16, 16]
    h = x |> conv(16, 3) |> bn |> relu
    h = h |> relu_conv_bn(16, 3)
    h = h |> sep_conv(16, 3)
    h = h |> max_pool(2, stride = 2)
    h = h |> relu_conv_bn(32, 3)
    h = h |> sep_conv(32, 3)
    output logits: f32[B, 10] = h |> gap |> linear(10)
}
