import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
let out = "";
const mp = await loadMicroPython({heapsize: 4*1024*1024, stdout: (s)=>{out+=s+"\n"}, stderr:(s)=>{out+=s+"\n"}, linebuffer: true});
try { mp.runPython(`
ba = bytearray(b'ab\\x00cd')
try: print('ba.find', ba.find(b'\\x00'))
except Exception as e: print('ba.find err', repr(e))
print(b'ab\\x00'.find(b'\\x00', 1))
try: print('ba.index', bytes(ba).index(0))
except Exception as e: print('idx err', repr(e))
try: print(repr(b'\\xff\\xfe'.decode()))
except Exception as e: print('decode err', type(e).__name__, e)
try: print(repr(str(b'\\xff', 'utf-8')))
except Exception as e: print('decode err2', type(e).__name__, e)
print(isinstance(True,int), type(True) is int, type(2**70) is int)
class E(ValueError):
    def __init__(self, m):
        super().__init__(m); self.reason = m
e = E('hello'); print(str(e), e.reason, repr(e), e.args)
mv = memoryview(b'abcdef'); print(bytes(mv[1:3]))
print(bytes(ba[0:2]), ba[-1])
ba2 = bytearray(); ba2 += b'xy'; ba2.extend(mv[0:2]); print(ba2)
ba2 = ba2[1:]; print(ba2)
import struct; print(struct.pack('>BHI', 1,2,3))
print(sorted(['bb','a','ab'], key=lambda k:(len(k),k)))
print('%s %r %04x' % ('a', 'b', 0x29b1))
print(int.from_bytes(b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff', 'big'))
print((2**64-1).to_bytes(8,'big'))
import array; a=array.array('H',[0]*4); a[1]=65535; print(a)
print('é'.encode(), len('é'))
import json; print(json.dumps([1,2], separators=(',',':')))
d={}; d['z']=1; d['a']=2; d['m']=3; print(list(d.keys()))
print(repr(b'\\x00\\x01'), repr('a\\nb'))
print(hex(255), '0x%02x' % 5)
`); } catch (e) { out += "PYERR " + e.message; }
console.log(out);
