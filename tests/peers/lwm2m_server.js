// An lwm2m-node-lib 1.4.0 LwM2M server on 127.0.0.1, driven by JSON lines for the Python tests.
//
//   node lwm2m_server.js [port]        (port 0 or none: a free one)
//
// stdout, one JSON object per line:
//   {"event":"ready","port":N}                                  once listening
//   {"event":"registration","ep":..,"lifetime":..,"version":..,"binding":..,"payload":..,
//    "address":..,"port":..}
//   {"event":"update","ep":..,"lifetime":..,"payload":..,"address":..,"port":..}
//   {"event":"unregistration","ep":..}
//   {"event":"notification","ep":..,"path":"/o/i/r","value":".."}
//   {"id":N,"ok":true,"result":..} / {"id":N,"ok":false,"error":".."}   answers to commands
// stdin, one JSON command per line: {"id":N,"op":"read|write|execute|observe|cancel|
//   discover|writeAttributes|list","ep":..,"path":"/o/i/r","value":..,"accept":..,
//   "attributes":{..}}
// The library listens on every interface by default: listen() is pinned to 127.0.0.1 here,
// and its lifetime sweep (which it arms with an undefined interval, i.e. every millisecond)
// is re-armed once a second.
'use strict';

const dgram = require('dgram');
const readline = require('readline');
const coap = require('coap');
const lwm2m = require('lwm2m-node-lib');

const server = lwm2m.server;
const LOOPBACK = '127.0.0.1';

const originalListen = coap.createServer().constructor.prototype.listen;
coap.createServer().constructor.prototype.listen = function (port, address, done) {
  if (typeof address === 'function') {
    done = address;
  }
  return originalListen.call(this, port, LOOPBACK, done);
};

for (const [name, value] of [
  ['application/vnd.oma.lwm2m+tlv', 11542],
  ['application/vnd.oma.lwm2m+json', 11543],
  ['application/senml+json', 110],
  ['text/plain', 0],
]) {
  coap.registerFormat(name, value);
}

function emit(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

function freePort(callback) {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, LOOPBACK, () => {
    const port = socket.address().port;
    socket.close(() => callback(port));
  });
}

const config = {
  port: 0,
  lifetimeCheckInterval: 1000,
  udpWindow: 100,
  ipProtocol: 'udp4',
  serverProtocol: 'udp4',
  formats: [{ name: 'lightweightm2m/text', value: 1541 }],
  writeFormat: 'text/plain',
  defaultAcceptFormat: undefined,
  deviceRegistry: { type: 'memory' },
  logLevel: 'FATAL',
  types: [],
  defaultType: 'device',
};

function split(path) {
  const parts = String(path).split('/').filter((p) => p !== '');
  return { obj: parts[0], inst: parts[1], res: parts[2] };
}

function withDevice(ep, callback) {
  server.getDevice(ep, (error, device) => {
    if (error || !device) {
      callback(new Error('no device ' + ep));
    } else {
      callback(null, device);
    }
  });
}

function run(command, done) {
  const p = split(command.path || '');
  config.defaultAcceptFormat = command.accept;
  if (command.op === 'list') {
    server.listDevices((error, devices) => done(error, devices));
    return;
  }
  withDevice(command.ep, (error, device) => {
    if (error) {
      done(error);
      return;
    }
    switch (command.op) {
      case 'read':
        server.read(device.id, p.obj, p.inst, p.res, done);
        break;
      case 'request':
        // Any method on any path (the library's read needs /o/i/r), sent the library's way:
        // through the server's own socket, so it comes from where the device registered.
        rawRequest(device, command, done);
        break;
      case 'write':
        server.write(device.id, p.obj, p.inst, p.res, String(command.value), done);
        break;
      case 'execute':
        server.execute(device.id, p.obj, p.inst, p.res, command.value || '', done);
        break;
      case 'discover':
        if (p.res !== undefined) {
          server.discover(device.id, p.obj, p.inst, p.res, done);
        } else if (p.inst !== undefined) {
          server.discover(device.id, p.obj, p.inst, done);
        } else {
          server.discover(device.id, p.obj, done);
        }
        break;
      case 'writeAttributes':
        server.writeAttributes(device.id, p.obj, p.inst, p.res, command.attributes || {}, done);
        break;
      case 'observe':
        server.observe(device.id, p.obj, p.inst, p.res, (value) => {
          emit({ event: 'notification', ep: command.ep, path: command.path, value: value });
        }, done);
        break;
      case 'cancel':
        server.cancelObserver(device.id, p.obj, p.inst, p.res, done);
        break;
      default:
        done(new Error('unknown op ' + command.op));
    }
  });
}

function rawRequest(device, command, done) {
  const coapUtils = require('lwm2m-node-lib/lib/services/server/coapUtils');
  const request = {
    host: LOOPBACK,
    port: config.port,
    method: command.method || 'GET',
    proxyUri: 'coap://' + device.address + ':' + device.port,
    pathname: command.path,
    options: {},
  };
  if (command.accept !== undefined) {
    request.options.Accept = command.accept;
  }
  if (command.payload !== undefined) {
    request.payload = Buffer.from(command.payload, 'base64');
    request.options['Content-Format'] = command.format;
  }
  coapUtils.sendRequest(request, (error, response) => {
    if (error) {
      done(error);
      return;
    }
    done(null, {
      code: response.code,
      format: response.headers['Content-Format'],
      payload: Buffer.from(response.payload || []).toString('base64'),
    });
  });
}

function start(port) {
  config.port = port;
  server.start(config, (error, info) => {
    if (error) {
      if (String(error).includes('EADDRINUSE')) {
        freePort(start);
        return;
      }
      emit({ event: 'error', error: String(error) });
      process.exit(2);
    }
    server.setHandler(info, 'registration', (ep, lifetime, version, binding, payload, cb) => {
      server.getDevice(ep, (e, device) => {
        emit({
          event: 'registration', ep, lifetime, version, binding, payload,
          address: device && device.address, port: device && device.port,
        });
        cb();
      });
    });
    server.setHandler(info, 'updateRegistration', (object, payload, cb) => {
      emit({
        event: 'update', ep: object.name, lifetime: object.lifetime, payload,
        address: object.address, port: object.port,
      });
      cb();
    });
    server.setHandler(info, 'unregistration', (device, cb) => {
      emit({ event: 'unregistration', ep: device && device.name });
      cb();
    });
    const registry = server.getRegistry();
    registry.stopLifetimeCheck();
    registry.checkLifetime(1000, (device, cb) => {
      emit({ event: 'expired', ep: device && device.name });
      cb();
    });
    emit({ event: 'ready', port: info.server._sock.address().port });
  });
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let command;
  try {
    command = JSON.parse(line);
  } catch (e) {
    emit({ event: 'error', error: 'bad command line: ' + line });
    return;
  }
  try {
    run(command, (error, result) => {
      if (error) {
        emit({ id: command.id, ok: false, error: String(error.name || error), code: error.code });
      } else {
        emit({ id: command.id, ok: true, result: result === undefined ? null : result });
      }
    });
  } catch (e) {
    emit({ id: command.id, ok: false, error: String(e) });
  }
});
lines.on('close', () => process.exit(0));

const requested = Number(process.argv[2] || 0);
if (requested > 0) {
  start(requested);
} else {
  freePort(start);
}
