import torch.nn as nn

from posekit.complexity import count_macs, count_params


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)  # 8x8 out: 64 * 8 * 3 * 9 = 13,824 MACs
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # 64 * 8 * 1 * 9 = 4,608
        self.fc = nn.Linear(8, 2)  # 16

    def forward(self, x):
        return self.fc(self.dw(self.conv(x)).mean((2, 3)))


def test_counts_by_hand():
    net = _Net()
    assert count_macs(net, (8, 8)) == 13_824 + 4_608 + 16
    assert count_params(net) == (3 * 8 * 9 + 8) + (8 * 9 + 8) + (8 * 2 + 2)
