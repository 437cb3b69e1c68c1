/* moatd: placeholder until master.c lands. */
int main(void);
int
main(void)
{
	return 1;
}
