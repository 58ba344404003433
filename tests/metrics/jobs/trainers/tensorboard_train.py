from gate import config, wait_for_go
from tensorboardX import SummaryWriter

# Writers flush their events every flush_secs (120 s by default): a script that wants live views (in
# TensorBoard as in the launcher) asks for less.
writer = SummaryWriter(config()["logdir"], flush_secs=1)
for step in range(3):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
wait_for_go()
for step in range(3, 6):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
writer.close()
