set terminal pngcairo size 900,540
set datafile separator ','
set key outside right
set grid
set output '/work/main/docs/results/fig5-20mbit-10mbit-5mbit.png'
set title 'COACH throughput while the link drops 20mbit -> 10mbit -> 5mbit'
set xlabel 'time (s)'
set ylabel 'frames/s'
plot '/work/main/docs/results/fig5-20mbit-10mbit-5mbit.csv' every ::1 using 1:2 with linespoints title 'COACH', '/work/main/docs/results/fig5-20mbit-10mbit-5mbit.csv' every ::1 using 1:3 with linespoints title 'COACH (planned for 20mbit, 10mbit, 5mbit)'
set output '/work/main/docs/results/fig5-100mbit-50mbit-20mbit.png'
set title 'COACH throughput while the link drops 100mbit -> 50mbit -> 20mbit'
set xlabel 'time (s)'
set ylabel 'frames/s'
plot '/work/main/docs/results/fig5-100mbit-50mbit-20mbit.csv' every ::1 using 1:2 with linespoints title 'COACH', '/work/main/docs/results/fig5-100mbit-50mbit-20mbit.csv' every ::1 using 1:3 with linespoints title 'COACH (planned for 100mbit, 50mbit, 20mbit)'
set output '/work/main/docs/results/fig6-latency.png'
set title 'mean latency (ms) against bandwidth'
set xlabel 'bandwidth (Mbit/s)'
set ylabel 'mean latency (ms)'
set logscale x
plot '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'coach' ? $4 : 1/0) with linespoints title 'COACH', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'neurosurgeon' ? $4 : 1/0) with linespoints title 'Neurosurgeon', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'dads' ? $4 : 1/0) with linespoints title 'DADS', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'spinn' ? $4 : 1/0) with linespoints title 'SPINN', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'jps' ? $4 : 1/0) with linespoints title 'JPS', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'cloud_only' ? $4 : 1/0) with linespoints title 'cloud-only', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'edge_only' ? $4 : 1/0) with linespoints title 'edge-only'
unset logscale x
set output '/work/main/docs/results/fig7-throughput.png'
set title 'throughput (frames/s) against bandwidth'
set xlabel 'bandwidth (Mbit/s)'
set ylabel 'throughput (frames/s)'
set logscale x
plot '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'coach' ? $3 : 1/0) with linespoints title 'COACH', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'neurosurgeon' ? $3 : 1/0) with linespoints title 'Neurosurgeon', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'dads' ? $3 : 1/0) with linespoints title 'DADS', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'spinn' ? $3 : 1/0) with linespoints title 'SPINN', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'jps' ? $3 : 1/0) with linespoints title 'JPS', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'cloud_only' ? $3 : 1/0) with linespoints title 'cloud-only', '/work/main/docs/results/bandwidth-sweep.csv' using 1:(strcol(2) eq 'edge_only' ? $3 : 1/0) with linespoints title 'edge-only'
unset logscale x
