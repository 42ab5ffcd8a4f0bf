# mypy: ignore-errors
# The main code returns at once; the cyclic timer keeps the application alive until it
# stops itself, as it would on the device.
import osTimer

ticks = []
timer = osTimer()


def on_tick(args):
    ticks.append(1)
    print("tick", len(ticks))
    if len(ticks) == 3:
        timer.stop()


timer.start(100, 1, on_tick)
print("main done")
