# digits.nas -- the CPU example of the whole loop: search on sklearn's 8x8 digits
# (1,797 images, built into scikit-learn), then retrain the result from scratch.
#   nasc search examples/digits.nas --out runs/digits
#   nasc train runs/digits/arch.nas --out runs/digits/train

block cell(C)(x) {
    a = x |> choice [
        conv3: relu_conv_bn(C, 3),
        sep3: sep_conv(C, 3),
        pool3: max_pool(3),
        skip: skip,
    ]
    src = choice [x, a]  # connectivity
    b = src |> choice [conv1: relu_conv_bn(C, 1), skip: skip, none: zero]
    return a + b
}

space digits {
    input x: f32[B, 1, 8, 8]
    C = choice [8, 16]  # one width for every layer
    h = x |> conv(C, k = choice [3, 5]) |> bn |> relu  # stem kernel size
    depth = choice [1, 2]
    repeat depth {
        h = h |> cell(C)
    }
    h = h |> max_pool(2, stride = 2)  # 8x8 -> 4x4
    h = h |> cell(C)
    output logits: f32[B, 10] = h |> gap |> linear(10)
    constraint params <= 6K
}

experiment digits {
    dataset = "sklearn:digits"
    split {
        train = 0.6
        val = 0.2
        test = 0.2
    }
    seed = 0
    search {
        algo = "darts"
        order = 1
        epochs = 6
        batch = 64
        w_lr = 0.05
        a_lr = 0.003
        penalty = 1.0
    }
    train {
        epochs = 30
        batch = 64
        lr = 0.05
    }
}
