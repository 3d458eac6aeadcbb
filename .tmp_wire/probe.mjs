import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
let out = "";
const mp = await loadMicroPython({heapsize: 4*1024*1024, stdout: (s)=>{out+=s+"\n"}, stderr:(s)=>{out+=s+"\n"}, linebuffer: true});
mp.runPython(`
import sys, hashlib, binascii, json, struct
print(sys.version, sys.implementation)
print(hasattr(hashlib,'sha256'))
print(binascii.b2a_base64(b'abc'))
print(dir(binascii))
import time
print(dir(time))
try:
    import micropython; print(dir(micropython))
except Exception as e: print(e)
print(bytes.fromhex('0011'))
print(json.dumps({'a':[1,True,None]}))
print(int.from_bytes(b'\\x01\\x02','big'))
print((258).to_bytes(2,'big'))
print(memoryview(b'abc')[1:])
print(bytearray(3))
import os; print(os.getcwd())
print(json.dumps('\\u00e9'))
`);
console.log(out);
