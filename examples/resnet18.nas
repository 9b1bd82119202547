# resnet18.nas -- torchvision's ResNet-18 as a fixed architecture, written from primitives.
# 11,689,512 parameters at 1000 classes, exactly as torchvision.models.resnet18().

# torchvision's post-activation BasicBlock (the builtin resnet_basic is NAS-Bench-201's)
block basic(C, stride = 1)(x) {
    h = x |> conv(C, 3, stride = stride) |> bn |> relu |> conv(C, 3) |> bn
    shortcut = stride != 1 or channels(x) != C ? x |> conv(C, 1, stride = stride) |> bn : x
    return (h + shortcut) |> relu
}

block layer(C, stride)(x) {
    h = x |> basic(C, stride)
    return h |> basic(C)
}

arch resnet18(classes = 1000, res = 224) {
    input x: f32[B, 3, res, res]
    h = x |> conv(64, 7, stride = 2) |> bn |> relu |> max_pool(3, stride = 2)
    h = h |> layer(64, 1) |> layer(128, 2) |> layer(256, 2) |> layer(512, 2)
    output logits: f32[B, classes] = h |> gap |> linear(classes)
}
