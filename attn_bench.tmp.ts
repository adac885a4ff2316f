import * as tf from '@tensorflow/tfjs';
import { initEngine } from '/work/wt/engine/src/engine/index.js';
import { scaledDotProductAttention } from '/work/wt/engine/src/nn/attention.js';
await initEngine('native');
const [B,H,T,d]=[1,4,1024,256];
const r=()=>Math.random()-0.5;
const q=tf.tensor4d(Float32Array.from({length:B*H*T*d},r),[B,H,T,d]);
const k=tf.tensor4d(Float32Array.from({length:B*T*d},r),[B,1,T,d]);
const v=tf.tensor4d(Float32Array.from({length:B*T*d},r),[B,1,T,d]);
const variants:[string,boolean,number|null][]=[['slide-causal',true,128],['global-causal',true,null],['slide-bidir',false,128],['global-bidir',false,null]];
const best:Record<string,number>={};
for(let round=0;round<4;round++) for(const [name,causal,window] of variants){
  const t0=performance.now();
  const g=tf.grads((a:tf.Tensor,b:tf.Tensor,c:tf.Tensor)=>tf.sum(scaledDotProductAttention(a as tf.Tensor4D,b as tf.Tensor4D,c as tf.Tensor4D,{scale:1/16,softcap:null,mask:{causal,window,keyMask:null}})))([q,k,v]);
  g.forEach(x=>x.dataSync()); tf.dispose(g);
  const f0=performance.now();
  const o=scaledDotProductAttention(q,k,v,{scale:1/16,softcap:null,mask:{causal,window,keyMask:null}}); o.dataSync(); o.dispose();
  const f1=performance.now();
  best[name+' f+b']=Math.min(best[name+' f+b']??1e9,f0-t0);
  best[name+' fwd']=Math.min(best[name+' fwd']??1e9,f1-f0);
}
console.log(best);
