# mobilenet_v2.nas -- torchvision's MobileNetV2 (width 1.0) as a fixed architecture.
# 3,504,872 parameters at 1000 classes, exactly as torchvision.models.mobilenet_v2().

# n inverted-residual layers; the first carries the stride (MobileNetV2's t, c, n, s table)
block ir_stage(C, n, stride, t)(x) {
    h = x
    repeat n as i {
        h = h |> mbconv(C, k = 3, expand = t, stride = i == 0 ? stride : 1)
    }
    return h
}

arch mobilenet_v2(classes = 1000, res = 224) {
    input x: f32[B, 3, res, res]
    h = x |> conv(32, 3, stride = 2) |> bn |> relu6
    h = h |> ir_stage(16, 1, 1, 1)
    h = h |> ir_stage(24, 2, 2, 6)
    h = h |> ir_stage(32, 3, 2, 6)
    h = h |> ir_stage(64, 4, 2, 6)
    h = h |> ir_stage(96, 3, 1, 6)
    h = h |> ir_stage(160, 3, 2, 6)
    h = h |> ir_stage(320, 1, 1, 6)
    output logits: f32[B, classes] = h |> conv(1280, 1) |> bn |> relu6 |> gap |> dropout(0.2) |> linear(classes)
}
