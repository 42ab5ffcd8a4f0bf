# mypy: ignore-errors
# ruff: noqa: UP032  (QuecPython style: older MicroPython firmware has no f-strings)
import checkNet
import modem
import net
import sim

print("network {}".format(checkNet.waitNetworkReady(30)))
print("imei {} model {}".format(modem.getDevImei(), modem.getDevModel()))
print("csq {}".format(net.csqQueryPoll()))
print("sim {} {}".format(sim.getStatus(), sim.getImsi()))
