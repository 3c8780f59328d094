Console.WriteLine("coach-edge");
return 0;
