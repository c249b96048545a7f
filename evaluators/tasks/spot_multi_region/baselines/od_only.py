"""od_only (spec §11): on-demand from the first tick to the end, in region 0. Every run is one
launch and 890 on-demand ticks: 147.5175 $, the top of the cost range."""


class Policy:
    def __init__(self, config):
        self.config = config

    def step(self, obs):
        return "ON_DEMAND"
