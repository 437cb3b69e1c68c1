/* moatctl: placeholder until moatctl lands. */
int main(void);
int
main(void)
{
	return 1;
}
