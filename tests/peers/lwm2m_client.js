// Runs an lwm2m-node-lib 1.4.0 *client* (a peer nobody in this project wrote) against an LwM2M
// server, for the embedded server's tests.
//
// Usage (cwd tests/peers): node lwm2m_client.js <host> <port> <endpoint> <lifetime>
// It creates /3/0 with a few resources, registers, and then:
//   - prints one JSON line per thing that happens on stdout:
//       {"event":"registered","location":"/rd/..."}   {"event":"read","path":"/3/0/0"}
//       {"event":"write","path":"/3/0/14","value":"+02"}  {"event":"deregistered"}
//       {"event":"error","message":"..."}
//   - reads commands from stdin, one per line: "deregister", "update", "set <objectUri> <res> <value>".
'use strict';

const path = require('path');
const readline = require('readline');
const lib = require(path.join(__dirname, 'node_modules', 'lwm2m-node-lib'));

const client = lib.client;
const [host, portText, endpoint, lifetime] = process.argv.slice(2);
if (!host || !portText || !endpoint || !lifetime) {
  console.error('usage: node lwm2m_client.js <host> <port> <endpoint> <lifetime>');
  process.exit(64);
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

client.init({
  client: {
    lifetime: lifetime,
    version: '1.0',
    logLevel: 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    formats: [{ name: 'lightweightm2m/text', value: 1541 }],
    writeFormat: 'lightweightm2m/text',
  },
  logLevel: 'FATAL',
});

let device = null;

function setHandlers(info) {
  client.setHandler(info.serverInfo, 'read', (objectType, objectId, resourceId, value, callback) => {
    emit({ event: 'read', path: `/${objectType}/${objectId}/${resourceId}` });
    callback(null, value);
  });
  client.setHandler(info.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
    emit({ event: 'write', path: `/${objectType}/${objectId}/${resourceId}`, value: String(value) });
    callback(null);
  });
  client.setHandler(info.serverInfo, 'execute', (objectType, objectId, resourceId, args, callback) => {
    emit({ event: 'execute', path: `/${objectType}/${objectId}/${resourceId}` });
    callback(null);
  });
}

function fail(message) {
  emit({ event: 'error', message: String(message) });
  process.exit(1);
}

const resources = [
  ['0', 'Telefonica I+D'],
  ['1', 'node-device'],
  ['14', '+01'],
];

client.registry.create('/3/0', (error) => {
  if (error) fail(error);
  let pending = resources.length;
  for (const [id, value] of resources) {
    client.registry.setResource('/3/0', id, value, (setError) => {
      if (setError) fail(setError);
      pending -= 1;
      if (pending === 0) {
        client.register(host, Number(portText), null, endpoint, (registerError, info) => {
          if (registerError) fail(registerError);
          device = info;
          setHandlers(info);
          emit({ event: 'registered', location: info.location });
        });
      }
    });
  }
});

const commands = readline.createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const words = line.trim().split(/\s+/);
  if (!device) {
    emit({ event: 'error', message: `not registered yet: ${line}` });
    return;
  }
  if (words[0] === 'deregister') {
    client.unregister(device, (error) => {
      if (error) fail(error);
      emit({ event: 'deregistered' });
      process.exit(0);
    });
  } else if (words[0] === 'update') {
    client.update(device, (error) => {
      if (error) fail(error);
      emit({ event: 'updated' });
    });
  } else if (words[0] === 'set' && words.length === 4) {
    client.registry.setResource(words[1], words[2], words[3], (error) => {
      if (error) fail(error);
      emit({ event: 'set' });
    });
  } else {
    emit({ event: 'error', message: `unknown command: ${line}` });
  }
});
commands.on('close', () => process.exit(0));
