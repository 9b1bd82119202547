# std/cells.nas -- standard cell edges, importable as `import "std/cells.nas" as cells`.

# NAS-Bench-201 edge: labels are the benchmark's op names (for its arch-string exporter).
block nb201_edge(C)(x) {
    return x |> choice [
        none: zero,
        skip_connect: skip,
        nor_conv_1x1: relu_conv_bn(C, 1),
        nor_conv_3x3: relu_conv_bn(C, 3),
        avg_pool_3x3: avg_pool(3),
    ]
}

# DARTS edge: 8 candidate ops; 'none' never wins on an edge that a 'choose' keeps.
block darts_edge(C, stride = 1)(x) {
    return x |> choice [
        none: zero(stride),
        max_pool_3x3: max_pool(3, stride),
        avg_pool_3x3: avg_pool(3, stride),
        skip_connect: stride == 1 ? skip : factorized_reduce(C),
        sep_conv_3x3: sep_conv(C, 3, stride),
        sep_conv_5x5: sep_conv(C, 5, stride),
        dil_conv_3x3: dil_conv(C, 3, stride, dilation = 2),
        dil_conv_5x5: dil_conv(C, 5, stride, dilation = 2),
    ]
}
