"""MONAI's UnetResBlock (kernel 3, stride 1, instance norm without affine, LeakyReLU 0.01), as the UNETR encoder
blocks and SwinViT v2's stage blocks use it; conv weights under conv1.conv / conv2.conv / conv3.conv."""
import torch.nn as nn
import torch.nn.functional as F


class _Conv(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size=k, stride=1, padding=k // 2, bias=False)

    def forward(self, x):
        return self.conv(x)


class UnetResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = _Conv(cin, cout, 3)
        self.conv2 = _Conv(cout, cout, 3)
        self.downsample = cin != cout
        if self.downsample:
            self.conv3 = _Conv(cin, cout, 1)

    def forward(self, x):
        out = F.leaky_relu(F.instance_norm(self.conv1(x), eps=1e-5), 0.01)
        out = F.instance_norm(self.conv2(out), eps=1e-5)
        res = F.instance_norm(self.conv3(x), eps=1e-5) if self.downsample else x
        return F.leaky_relu(out + res, 0.01)
